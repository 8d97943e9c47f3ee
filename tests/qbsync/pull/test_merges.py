"""QuickBooks merges: the merged-away id is mirrored with `merged_into_qb_customer_id`, the
survivor's new version is mirrored, and links that pointed at the merged-away id follow it; a
merge seen only in change data capture (no survivor named) asks a person for the link; a push in
flight on the merged-away id is fenced off."""

from __future__ import annotations

import asyncio
import json
import uuid

from qb_sync.domain.outcomes import Outcome
from qb_sync.store.push.rows import get_mapping
from qbo_emulator.testing import EmulatorServer
from qbo_emulator.webhooks import cloudevents_payload, legacy_payload

from .conftest import PullTenant, eventually
from .test_cdc import make_cdc_due
from .test_webhooks import notification, post_webhook


async def test_a_merge_mirrors_the_merged_away_id_once_with_its_survivor(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    emulator.seed_realm(pull_tenant.realm_id)
    loser, survivor, _other = emulator.seed(
        pull_tenant.realm_id,
        "customers",
        [{"DisplayName": f"Merge {pull_tenant.realm_id} {n}"} for n in ("X", "Y", "Z")],
    )
    await pull_tenant.connect()
    await pull_tenant.wait_import_done()

    emulator.merge(pull_tenant.realm_id, loser["Id"], survivor["Id"])
    merged = notification(pull_tenant.realm_id, survivor["Id"], "Merge", deleted=loser["Id"])
    # Delivered twice, once in each format.
    for payload in (legacy_payload(merged), cloudevents_payload(merged)):
        reply = await post_webhook(pull_tenant, payload)
        assert reply.status_code == 200

    async def merged_away_event() -> list[dict] | None:
        events = [
            e["data"]
            for e in await pull_tenant.mirrored()
            if e["data"]["qb_customer_id"] == loser["Id"]
        ]
        return events if len(events) == 2 else None

    events = await eventually(merged_away_event)
    await asyncio.sleep(1.0)  # the duplicate notification is processed too
    loser_events = [
        e["data"]
        for e in await pull_tenant.mirrored()
        if e["data"]["qb_customer_id"] == loser["Id"]
    ]
    assert len(loser_events) == 2  # the import's, then exactly one merge event
    assert loser_events[-1]["merged_into_qb_customer_id"] == survivor["Id"]
    assert loser_events[-1]["active"] is False
    assert loser_events[-1]["display_name"] == loser["DisplayName"]  # the last name known
    assert loser_events[-1]["sync_token"] > loser_events[0]["sync_token"]
    survivor_tokens = [
        e["data"]["sync_token"]
        for e in await pull_tenant.mirrored()
        if e["data"]["qb_customer_id"] == survivor["Id"]
    ]
    assert survivor_tokens == [0, 1]  # the merge bumped the survivor's SyncToken
    assert events


async def link(tenant: PullTenant, customer_id: str, qb_id: str) -> None:
    await tenant.db.execute(
        """INSERT INTO push_mappings (tenant_id, realm_id, customer_id, qb_customer_id,
                                      sync_token, status, create_request_id)
           VALUES ($1, $2, $3, $4, 0, 'synced', $5)""",
        tenant.tenant_id,
        tenant.realm_id,
        customer_id,
        qb_id,
        f"req-{uuid.uuid4().hex[:20]}",
    )


async def linked_pair(
    emulator: EmulatorServer, tenant: PullTenant, label: str
) -> tuple[dict, dict, str]:
    """Two QuickBooks customers imported into a connected company, the first linked to a new
    platform customer id: (to be merged away, survivor, that customer id)."""
    emulator.seed_realm(tenant.realm_id)
    gone, survivor = emulator.seed(
        tenant.realm_id,
        "customers",
        [{"DisplayName": f"{label} {tenant.realm_id} {n}"} for n in "XY"],
    )
    await tenant.connect()
    await tenant.wait_import_done()
    customer_id = str(uuid.uuid4())
    await link(tenant, customer_id, gone["Id"])
    return gone, survivor, customer_id


async def outcomes(tenant: PullTenant, customer_id: str) -> list[dict]:
    rows = await tenant.db.fetch(
        "SELECT payload FROM test_pull_outbox_copy WHERE topic = 'qb.sync' AND key = $1"
        " ORDER BY id",
        customer_id,
    )
    return [json.loads(r["payload"]) for r in rows]


async def test_a_merge_moves_the_link_to_the_survivor_but_never_steals_a_linked_survivor(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    emulator.seed_realm(pull_tenant.realm_id)
    a, b, c, d = emulator.seed(
        pull_tenant.realm_id,
        "customers",
        [{"DisplayName": f"Remap {pull_tenant.realm_id} {n}"} for n in "ABCD"],
    )
    await pull_tenant.connect()
    await pull_tenant.wait_import_done()
    linked_to_a, linked_to_c, linked_to_d = (str(uuid.uuid4()) for _ in range(3))
    await link(pull_tenant, linked_to_a, a["Id"])  # A will merge into B (not linked)
    await link(pull_tenant, linked_to_c, c["Id"])  # C will merge into D (linked already)
    await link(pull_tenant, linked_to_d, d["Id"])

    async def applied(count: int) -> bool:
        """`count` merges applied and no CDC pass due any more."""
        done = await pull_tenant.db.fetchval(
            """SELECT (SELECT count(*) FROM qb_merges m
                        WHERE m.tenant_id = $1 AND m.realm_id = $2 AND m.applied_at IS NOT NULL)
                      = $3 AND (p.cdc_due_at IS NULL OR p.cdc_due_at > now())
                 FROM pull_state p WHERE p.tenant_id = $1 AND p.realm_id = $2""",
            pull_tenant.tenant_id,
            pull_tenant.realm_id,
            count,
        )
        return bool(done)

    # One merge at a time: notifications for B and D are keyed apart and may be consumed in either
    # order, and a CDC pass woken by one would see the other merge first, without its survivor.
    for applied_so_far, (loser, survivor) in enumerate(((a, b), (c, d)), start=1):
        emulator.merge(pull_tenant.realm_id, loser["Id"], survivor["Id"])
        payload = legacy_payload(
            notification(pull_tenant.realm_id, survivor["Id"], "Merge", deleted=loser["Id"])
        )
        assert (await post_webhook(pull_tenant, payload)).status_code == 200
        await eventually(lambda n=applied_so_far: applied(n))
    rows = {
        r["customer_id"]: r
        for r in await pull_tenant.db.fetch(
            "SELECT * FROM push_mappings WHERE tenant_id = $1", pull_tenant.tenant_id
        )
    }
    assert rows[linked_to_a]["qb_customer_id"] == b["Id"]
    assert rows[linked_to_a]["sync_token"] == 1  # the survivor's SyncToken after the merge
    [linked] = [e["data"] for e in await outcomes(pull_tenant, linked_to_a)]
    assert (linked["qb_customer_id"], linked["how"]) == (b["Id"], "merged")

    assert rows[linked_to_c]["status"] == "needs_link"  # D is someone else's: not stolen
    assert rows[linked_to_c]["candidate_qb_customer_id"] == d["Id"]
    assert rows[linked_to_d]["qb_customer_id"] == d["Id"]
    [failed] = [e["data"] for e in await outcomes(pull_tenant, linked_to_c)]
    assert (failed["status"], failed["error_code"]) == ("needs_link", "merged")


async def test_a_merge_seen_only_in_cdc_asks_for_a_link_and_a_later_notification_moves_it(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    gone, survivor, linked = await linked_pair(emulator, pull_tenant, "CDC merge")

    emulator.merge(pull_tenant.realm_id, gone["Id"], survivor["Id"])  # no webhook configured
    await make_cdc_due(pull_tenant)

    async def asks_for_a_link() -> dict | None:
        row = await pull_tenant.db.fetchrow(
            "SELECT * FROM push_mappings WHERE tenant_id = $1 AND customer_id = $2",
            pull_tenant.tenant_id,
            linked,
        )
        return dict(row) if row and row["status"] == "needs_link" else None

    row = await eventually(asks_for_a_link)
    assert row["last_error_code"] == "merged" and row["qb_customer_id"] == gone["Id"]
    [failed] = [e["data"] for e in await outcomes(pull_tenant, linked)]
    assert (failed["status"], failed["error_code"]) == ("needs_link", "merged")
    final = [
        e["data"] for e in await pull_tenant.mirrored() if e["data"]["qb_customer_id"] == gone["Id"]
    ][-1]
    assert final["active"] is False  # the mirror shows it gone, survivor not known

    # A notification naming the survivor arrives later: the link follows it.
    payload = legacy_payload(
        notification(pull_tenant.realm_id, survivor["Id"], "Merge", deleted=gone["Id"])
    )
    assert (await post_webhook(pull_tenant, payload)).status_code == 200

    async def moved() -> dict | None:
        row = await pull_tenant.db.fetchrow(
            "SELECT * FROM push_mappings WHERE tenant_id = $1 AND customer_id = $2",
            pull_tenant.tenant_id,
            linked,
        )
        return dict(row) if row and row["qb_customer_id"] == survivor["Id"] else None

    row = await eventually(moved)
    assert row["status"] == "synced" and row["last_error_code"] is None
    events = [e["data"] for e in await outcomes(pull_tenant, linked)]
    assert (events[-1]["qb_customer_id"], events[-1]["how"]) == (survivor["Id"], "merged")


async def test_a_merge_takes_the_row_from_a_push_in_flight(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    gone, survivor, customer_id = await linked_pair(emulator, pull_tenant, "Busy merge")
    # A push worker holds the row (it is updating the customer about to be merged away).
    await pull_tenant.db.execute(
        """UPDATE push_mappings SET status = 'pending', due_at = now() + interval '1 hour',
                  lease_until = now() + interval '1 minute', lease_token = gen_random_uuid()
            WHERE tenant_id = $1 AND customer_id = $2""",
        pull_tenant.tenant_id,
        customer_id,
    )
    pusher = pull_tenant.app.state.push.pusher
    [held] = [
        r
        for r in [
            await get_mapping(
                pull_tenant.db, pull_tenant.tenant_id, pull_tenant.realm_id, customer_id
            )
        ]
        if r is not None
    ]

    emulator.merge(pull_tenant.realm_id, gone["Id"], survivor["Id"])
    payload = legacy_payload(
        notification(pull_tenant.realm_id, survivor["Id"], "Merge", deleted=gone["Id"])
    )
    assert (await post_webhook(pull_tenant, payload)).status_code == 200

    async def moved() -> bool:
        row = await get_mapping(
            pull_tenant.db, pull_tenant.tenant_id, pull_tenant.realm_id, customer_id
        )
        return row is not None and row.qb_customer_id == survivor["Id"]

    await eventually(moved)
    # The worker's answer about the merged-away customer arrives now: it is dropped.
    assert held.lease_token is not None
    await pusher.finish(
        held, held.lease_token, Outcome("updated", customer=gone, platform={}, qb_content={})
    )
    row = await get_mapping(
        pull_tenant.db, pull_tenant.tenant_id, pull_tenant.realm_id, customer_id
    )
    assert row is not None and row.qb_customer_id == survivor["Id"]
    assert row.sync_token == 1 and row.status == "pending"  # pushed again, to the survivor
