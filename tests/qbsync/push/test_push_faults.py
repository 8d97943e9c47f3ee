"""QuickBooks misbehaving while customers are pushed: lost answers, timeouts, throttling, a
rename between lost answers, a company that must be reconnected. Whatever happens, every mapping
ends synced with exactly one QuickBooks customer each, and the emulator's log shows why: each
create reached QuickBooks' business logic once, lost answers were replayed from the requestid,
and no create was ever answered 6240 (which would mean one went out again under a new id and
only the name saved us)."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.qbsync.conftest import wait_for
from tests.qbsync.push.conftest import PushWorld, QuickBooksLog, connect_realm


async def _push_many(world: PushWorld, prefix: str, n: int) -> dict[str, str]:
    ids: dict[str, str] = {}
    for i in range(n):
        name = f"{prefix} {i:03d}"
        ids[(await world.create_customer(company_name=name))["customer_id"]] = name
    for cid in ids:
        await world.push(cid)
    return ids


async def _assert_all_synced_once(world: PushWorld, ids: dict[str, str]) -> QuickBooksLog:
    rows = await asyncio.gather(*(world.wait_status(cid, "synced", 60) for cid in ids))
    names = Counter(c["DisplayName"] for c in world.qb_customers().values())
    for row in rows:
        name = ids[row["customer_id"]]
        assert names[name] == 1, f"{name!r} exists {names[name]} times in QuickBooks"
        assert world.qb_customers()[row["qb_customer_id"]]["DisplayName"] == name
    assert len({row["qb_customer_id"] for row in rows}) == len(ids)
    log = world.qb_log()
    assert log.creates_by_name == Counter(ids.values())  # one create each reached QuickBooks
    assert log.business_faults() == []  # none answered 6240: no create went out twice
    return log


async def test_answers_lost_after_commit_create_no_duplicates(world: PushWorld) -> None:
    # The emulator commits each create, then cuts the connection before the answer (and
    # never throttles here, so every retry reaches it).
    world.emulator.set_limits(world.realm_id, per_minute=100_000, per_second=1000)
    world.emulator.set_faults(
        drop_response_after_commit_next_n=6, realm_id=world.realm_id, path="/customer$"
    )
    ids = await _push_many(world, "Dropped", 8)
    log = await _assert_all_synced_once(world, ids)
    assert world.emulator.state()["faults"] == []  # every planned drop happened
    assert len(log.replays()) == 6  # each lost answer came back from the requestid


async def test_timeouts_are_retried_without_duplicates(world: PushWorld) -> None:
    # Creates that QuickBooks applies but answers after the client gave up (read timeout 3 s),
    # then gateway timeouts and 5xx that apply nothing.
    world.emulator.set_limits(world.realm_id, per_minute=100_000, per_second=1000)
    world.emulator.add_fault(
        "hang_after_commit",
        realm=world.realm_id,
        method="POST",
        path="/customer$",
        seconds=3.5,
        times=2,
    )
    world.emulator.add_fault("timeout", realm=world.realm_id, seconds=0.3, times=3)
    world.emulator.add_fault("error", realm=world.realm_id, status=503, times=3)
    ids = await _push_many(world, "Flaky", 8)
    log = await _assert_all_synced_once(world, ids)
    assert world.emulator.state()["faults"] == []
    assert len(log.replays()) == 2  # the two answered too late were replayed, not re-created


async def test_a_throttling_storm_ends_with_every_customer_synced_once(world: PushWorld) -> None:
    # Far below what qb-sync's pacing allows in these tests, so QuickBooks answers 429 a lot.
    world.emulator.set_limits(world.realm_id, per_minute=600, concurrent=2, per_second=4)
    ids = await _push_many(world, "Throttled", 12)
    await _assert_all_synced_once(world, ids)
    assert world.emulator.throttled_count(world.realm_id) > 0


async def test_a_rename_between_lost_answers_never_makes_a_second_customer(
    world: PushWorld,
) -> None:
    # QuickBooks forgets requestids quickly here (its retention is undocumented,
    # docs/reference/quickbooks-online.md#idempotency-requestid).
    world.emulator.configure(requestid_ttl_seconds=0.1)
    try:
        # The find and the create fill the company's minute: the create commits, its answer is
        # lost, and every retry is throttled until the test lifts the limit.
        world.emulator.set_limits(world.realm_id, per_minute=2)
        world.emulator.add_fault(
            "drop_after_commit", realm=world.realm_id, method="POST", path="/customer$"
        )
        cid = (await world.create_customer(company_name="Before Rename Ltd"))["customer_id"]
        await world.push(cid)

        async def answer_lost_and_retrying() -> bool:
            row = await world.row(cid)
            return bool(world.qb_named("Before Rename Ltd")) and bool(
                row and row["last_error_code"] == "429"
            )

        await wait_for(answer_lost_and_retrying, 30)
        # The user renames the customer while the push is still trying.
        patch = await world.customers.patch(
            f"/customers/{cid}", json={"company_name": "After Rename Ltd"}
        )
        assert patch.status_code == 200, patch.text

        await world.wait_snapshot(cid, company_name="After Rename Ltd")
        world.emulator.set_limits(world.realm_id)  # QuickBooks answers again

        row = await world.wait_status(cid, "synced")
    finally:
        world.emulator.configure(requestid_ttl_seconds=None)
    customers = list(world.qb_customers().values())
    assert [c["DisplayName"] for c in customers] == ["After Rename Ltd"]  # renamed, not doubled
    assert row["qb_customer_id"] == customers[0]["Id"]
    log = world.qb_log()
    assert log.creates_by_name == Counter({"Before Rename Ltd": 1})
    assert log.business_faults() == []


async def test_a_company_to_reconnect_keeps_its_rows_pending_then_they_sync(
    world: PushWorld,
) -> None:
    world.emulator.admin("POST", "/tokens/revoke", {"realm_id": world.realm_id})
    cid = (await world.create_customer(company_name="Reconnect Me Inc"))["customer_id"]
    await world.push(cid)

    async def waiting_for_reconnect() -> dict | None:
        row = await world.row(cid)
        return row if row and row["last_error_code"] == "reauth_required" else None

    row = await wait_for(waiting_for_reconnect, 30)
    assert row["status"] == "pending" and row["attempts"] == 0  # waits, never failed
    listed = (await world.sync.get("/quickbooks/connections")).json()["connections"]
    assert [c["status"] for c in listed] == ["reauth_required"]

    await connect_realm(world.sync, world.realm_id)  # the user reconnects
    row = await world.wait_status(cid, "synced")
    assert len(world.qb_named("Reconnect Me Inc")) == 1


async def test_attempts_are_bounded_then_failed_and_a_retry_syncs_it(world: PushWorld) -> None:
    world.emulator.set_faults(fail_next_n_5xx=1000, realm_id=world.realm_id)
    cid = (await world.create_customer(company_name="Hooli"))["customer_id"]
    await world.push(cid)

    row = await world.wait_status(cid, "failed")
    assert row["attempts"] == 6  # PUSH_MAX_ATTEMPTS in these tests
    assert row["last_error_code"] == "transient"
    await world.wait_customer_service_status(cid, "failed")
    assert world.qb_customers() == {}

    world.emulator.set_faults()
    reply = await world.sync.post(f"/quickbooks/sync/{world.realm_id}/{cid}/retry")
    assert reply.status_code == 202, reply.text
    row = await world.wait_status(cid, "synced")
    assert len(world.qb_named("Hooli")) == 1
    await world.wait_customer_service_status(cid, "linked")
