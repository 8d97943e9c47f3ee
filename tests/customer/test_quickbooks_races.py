"""QuickBooks mappings under concurrency and stale directory data: no request pair may leave
a QuickBooks customer with two customers, a customer with two QuickBooks customers of one
company, or a QuickBooks customer imported twice."""

from __future__ import annotations

import asyncio
import uuid

from platform_events.contracts.quickbooks import QuickBooksCustomerLinked
from tests.customer.conftest import Tenant, minimal_customer, outbox_events
from tests.customer.test_quickbooks import filled_directory, mirror, qb_customer, wait_for
from tests.support.kafka_io import publish_events


async def _links(customer_db, tenant: Tenant, realm: str) -> list[tuple[str | None, str | None]]:  # type: ignore[no-untyped-def]
    rows = await customer_db.fetch(
        """SELECT qb_customer_id, customer_id::text AS customer_id FROM qb_mappings
            WHERE tenant_id = $1 AND realm_id = $2 AND customer_id IS NOT NULL
            ORDER BY qb_customer_id""",
        tenant.tenant_id,
        realm,
    )
    return [(r["qb_customer_id"], r["customer_id"]) for r in rows]


async def test_two_concurrent_create_here_saves_import_the_customer_once(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    await filled_directory(
        kafka_bootstrap, tenant, customer_db, realm, [qb_customer(realm, "1", "Twice Ltd")]
    )
    form = f"/quickbooks/companies/{realm}/mappings"
    body = {"rows": [{"qb_customer_id": "1", "choice": "create_here"}]}
    first, second = await asyncio.gather(
        tenant.client.put(form, json=body), tenant.client.put(form, json=body)
    )
    assert [first.status_code, second.status_code] == [200, 200], (first.text, second.text)
    created = first.json()["created_customers"] | second.json()["created_customers"]
    assert len(created) == 1
    everyone = (await tenant.client.get("/customers")).json()["items"]
    assert [c["company_name"] for c in everyone] == ["Twice Ltd"]
    assert len(await _links(customer_db, tenant, realm)) == 1


async def test_concurrent_links_by_name_never_share_or_double_a_link(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    await filled_directory(
        kafka_bootstrap,
        tenant,
        customer_db,
        realm,
        [qb_customer(realm, "1", "One Co"), qb_customer(realm, "2", "Two Co")],
    )
    a, b = [
        (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
        for _ in range(2)
    ]
    # Two customers racing for one QuickBooks customer.
    results = await asyncio.gather(
        *(
            tenant.client.post(
                f"/customers/{cid}/quickbooks/link",
                json={"realm_id": realm, "display_name": "One Co"},
            )
            for cid in (a, b)
        )
    )
    assert sorted(r.status_code for r in results) == [200, 409]
    # One customer racing for two QuickBooks customers (link by name and the form).
    form = tenant.client.put(
        f"/quickbooks/companies/{realm}/mappings",
        json={"rows": [{"qb_customer_id": "2", "choice": "link_existing", "customer_id": b}]},
    )
    by_name = tenant.client.post(
        f"/customers/{b}/quickbooks/link", json={"realm_id": realm, "display_name": "One Co"}
    )
    await asyncio.gather(form, by_name)
    links = await _links(customer_db, tenant, realm)
    assert len({qb for qb, _ in links}) == len(links)
    assert len({cid for _, cid in links}) == len(links)
    # Two push requests at once: one is recorded.
    c = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    pushes = await asyncio.gather(
        *(
            tenant.client.post(f"/customers/{c}/quickbooks/push", json={"realm_id": realm})
            for _ in range(2)
        )
    )
    assert sorted(r.status_code for r in pushes) == [202, 409]


async def test_link_by_name_refuses_when_two_quickbooks_customers_hold_the_name(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    """QuickBooks renamed "Alpha" (1) to "Gamma" and then "Beta" (2) to "Alpha"; the mirror of
    2 arrived first (another key, another partition). Two rows say "Alpha" for a moment: linking
    one of them would be a guess, and the guess may be the QuickBooks customer the user never
    meant (its next update then goes to the wrong QuickBooks customer)."""
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    await filled_directory(
        kafka_bootstrap,
        tenant,
        customer_db,
        realm,
        [qb_customer(realm, "1", "Alpha"), qb_customer(realm, "2", "Beta")],
    )
    await mirror(kafka_bootstrap, tenant, [qb_customer(realm, "2", "Alpha", 1)])
    await wait_for(
        customer_db,
        "SELECT count(*) FROM qb_directory WHERE tenant_id = $1 AND display_name = 'Alpha'",
        tenant.tenant_id,
        expected=2,
    )
    cid = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    linked = await tenant.client.post(
        f"/customers/{cid}/quickbooks/link", json={"realm_id": realm, "display_name": "Alpha"}
    )
    assert linked.status_code == 409, linked.text
    assert await _links(customer_db, tenant, realm) == []


async def test_a_merge_moves_links_not_a_dont_import_choice(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    """QuickBooks merged 1 (set to "don't import") into 2, and 3 (linked) into 4 (set to "don't
    import", no customer). The "don't import" of 1 was about 1: 2 must still be offered by the
    form's default, so "create here" for every row without a choice imports it. The link of 3
    follows it to 4, as qb-sync's remap does, replacing a choice that linked no customer."""
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    names = {"1": "Dup Shop", "2": "Real Shop", "3": "Old Yard", "4": "New Yard"}
    await filled_directory(
        kafka_bootstrap,
        tenant,
        customer_db,
        realm,
        [qb_customer(realm, qb_id, name) for qb_id, name in names.items()],
    )
    linked = (await tenant.client.post("/customers", json=minimal_customer())).json()
    form = f"/quickbooks/companies/{realm}/mappings"
    saved = await tenant.client.put(
        form,
        json={
            "rows": [
                {"qb_customer_id": "1", "choice": "dont_import"},
                {"qb_customer_id": "3", "choice": "link_existing",
                 "customer_id": linked["customer_id"]},
                {"qb_customer_id": "4", "choice": "dont_import"},
            ]
        },
    )  # fmt: skip
    assert saved.status_code == 200, saved.text
    await mirror(
        kafka_bootstrap,
        tenant,
        [
            qb_customer(realm, "1", "Dup Shop", 1, active=False, merged_into_qb_customer_id="2"),
            qb_customer(realm, "3", "Old Yard", 1, active=False, merged_into_qb_customer_id="4"),
        ],
    )
    await wait_for(
        customer_db,
        "SELECT count(*) FROM qb_directory WHERE tenant_id = $1 AND merged_into IS NOT NULL",
        tenant.tenant_id,
        expected=2,
    )
    rows = {r["qb_customer_id"]: r for r in (await tenant.client.get(form)).json()}
    assert set(rows) == {"2", "4"}
    assert (rows["2"]["choice"], rows["2"]["is_default"]) == ("dont_import", True)
    assert (rows["4"]["choice"], rows["4"]["customer_id"]) == (
        "link_existing",
        linked["customer_id"],
    )
    imported = await tenant.client.put(form, json={"default_choice": "create_here"})
    assert imported.status_code == 200, imported.text
    assert set(imported.json()["created_customers"]) == {"2"}
    assert await _links(customer_db, tenant, realm) == [
        ("2", imported.json()["created_customers"]["2"]),
        ("4", linked["customer_id"]),
    ]


async def test_mapping_changes_of_a_company_carry_increasing_mapping_sequences(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    """A QuickBooks customer relinked from one customer to another gets two MappingSaved on two
    keys; qb-sync tells the newer by mapping_sequence, whatever order they arrive in."""
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    await filled_directory(
        kafka_bootstrap,
        tenant,
        customer_db,
        realm,
        [qb_customer(realm, "1", "Hop Co"), qb_customer(realm, "2", "Skip Co")],
    )
    first, second = [
        (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
        for _ in range(2)
    ]
    form = f"/quickbooks/companies/{realm}/mappings"
    linked = await tenant.client.post(
        f"/customers/{first}/quickbooks/link", json={"realm_id": realm, "display_name": "Hop Co"}
    )
    assert linked.status_code == 200, linked.text
    moved = await tenant.client.put(
        form,
        json={"rows": [{"qb_customer_id": "1", "choice": "link_existing", "customer_id": second},
                       {"qb_customer_id": "2", "choice": "dont_import"}]},
    )  # fmt: skip
    assert moved.status_code == 200, moved.text
    [to_first] = [e for e in await outbox_events(customer_db, first) if "choice" in e["data"]]
    [to_second] = [e for e in await outbox_events(customer_db, second) if "choice" in e["data"]]
    [skipped] = await outbox_events(customer_db, f"qb:{realm}:2")
    assert to_first["data"]["mapping_sequence"] < to_second["data"]["mapping_sequence"]
    assert skipped["data"]["mapping_sequence"] is not None


async def test_a_link_from_qb_sync_waits_for_a_form_save_in_progress_then_lands(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    """A form save reads the company's mappings and writes what it decided, holding the
    company's mapping lock from one to the other: a QuickBooksCustomerLinked applied in between
    would be overwritten by the save's stale read. The consumer waits for the lock instead."""
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    cid = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    push = f"/customers/{cid}/quickbooks/push"
    assert (await tenant.client.post(push, json={"realm_id": realm})).status_code == 202
    lock_key = f"qbmap:{tenant.tenant_id}:{realm}"
    async with customer_db.acquire() as saving:
        form_save = saving.transaction()
        await form_save.start()
        await saving.execute("SELECT pg_advisory_xact_lock(hashtext($1))", lock_key)
        linked = QuickBooksCustomerLinked(
            realm_id=realm, customer_id=cid, qb_customer_id="61", sync_token=0, how="created"
        )
        await publish_events(kafka_bootstrap, "qb.sync", [(linked, cid)], tenant=tenant.tenant_id)
        # The consumer is seen queued behind the save's lock (not: applied regardless).
        await wait_for(
            customer_db,
            """SELECT count(*) FROM pg_locks
                WHERE locktype = 'advisory' AND NOT granted
                  AND objid::bigint = (hashtext($1)::bigint & 4294967295)""",
            lock_key,
            expected=1,
        )
        status = await customer_db.fetchval(
            "SELECT status FROM qb_mappings WHERE tenant_id = $1 AND customer_id = $2",
            tenant.tenant_id,
            uuid.UUID(cid),
        )
        assert status == "pending"
        await form_save.commit()
    await wait_for(
        customer_db,
        "SELECT qb_customer_id FROM qb_mappings WHERE tenant_id = $1 AND customer_id = $2",
        tenant.tenant_id,
        uuid.UUID(cid),
        expected="61",
    )
