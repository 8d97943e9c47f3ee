"""Display names: one QuickBooks already uses elsewhere ends needs_link with the reason, never a
rename or a duplicate, and is resolved by the user through the sync API; names are matched
exactly (inner spaces count), found whatever their characters (curly quotes, inactive
customers), and never created or linked twice when two platform customers share one."""

from __future__ import annotations

import asyncio

from qb_sync.store.push.intent import record_link
from tests.qbsync.conftest import wait_for
from tests.qbsync.push.conftest import PushWorld


async def test_a_vendor_name_ends_needs_link_with_the_reason(world: PushWorld) -> None:
    vendor = world.emulator.seed_vendor(world.realm_id, "Wayne Enterprises")
    cid = (await world.create_customer(company_name="Wayne Enterprises"))["customer_id"]
    await world.push(cid)

    row = await world.wait_status(cid, "needs_link")
    assert row["last_error_code"] == "6240"
    assert "vendor" in row["last_error_message"] and vendor["Id"] in row["last_error_message"]
    assert row["qb_customer_id"] is None
    assert world.qb_customers() == {}  # nothing created, nothing renamed
    # The customer service shows the status too.
    await world.wait_customer_service_status(cid, "needs_link")


async def test_an_employee_name_ends_needs_link(world: PushWorld) -> None:
    world.emulator.seed_employee(world.realm_id, "Bruce Wayne")
    cid = (await world.create_customer(company_name="Bruce Wayne"))["customer_id"]
    await world.push(cid)
    row = await world.wait_status(cid, "needs_link")
    assert "employee" in row["last_error_message"]
    assert world.qb_customers() == {}


async def test_a_customer_differing_only_in_case_is_a_candidate_then_linked_by_the_user(
    world: PushWorld,
) -> None:
    other = world.emulator.seed_customer(world.realm_id, "ACME CORP")
    cid = (await world.create_customer(company_name="Acme Corp", email="ap@acme.example"))[
        "customer_id"
    ]
    await world.push(cid)
    row = await world.wait_status(cid, "needs_link")
    assert row["candidate_qb_customer_id"] == other["Id"]

    missing = await world.sync.post(f"/quickbooks/sync/{world.realm_id}/{cid}/resolve", json={})
    assert missing.status_code == 422
    assert missing.json()["error"]["fields"][0]["field"] == "qb_customer_id"
    reply = await world.sync.post(
        f"/quickbooks/sync/{world.realm_id}/{cid}/resolve", json={"qb_customer_id": other["Id"]}
    )
    assert reply.status_code == 200, reply.text
    row = await world.wait_status(cid, "synced")
    assert row["qb_customer_id"] == other["Id"]
    await world.wait_linked_in_customer_service(cid, other["Id"])
    # Linked, then the platform's values are pushed onto it (the name stays QuickBooks').
    qb = world.qb_customers()[other["Id"]]
    assert qb["PrimaryEmailAddr"]["Address"] == "ap@acme.example"
    assert len(world.qb_customers()) == 1


async def test_sync_api_errors(world: PushWorld) -> None:
    missing = await world.sync.get(f"/quickbooks/sync/{world.realm_id}/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    listed = await world.sync.get("/quickbooks/sync", params={"status": "bogus"})
    assert listed.status_code == 422
    cid = (await world.create_customer(company_name="Stark Industries"))["customer_id"]
    await world.push(cid)
    await world.wait_status(cid, "synced")
    again = await world.sync.post(f"/quickbooks/sync/{world.realm_id}/{cid}/retry")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_state"
    listed = await world.sync.get(
        "/quickbooks/sync", params={"status": "synced", "realm_id": world.realm_id}
    )
    assert [r["customer_id"] for r in listed.json()["items"]] == [cid]
    no_auth = await world.sync.get("/quickbooks/sync", headers={"Authorization": ""})
    assert no_auth.status_code == 401


async def test_an_inactive_quickbooks_customer_with_the_name_is_linked_not_recreated(
    world: PushWorld,
) -> None:
    dormant = world.seed("customers", "Dormant Supplies", Active=False)
    cid = (await world.create_customer(company_name="Dormant Supplies"))["customer_id"]
    await world.push(cid)

    row = await world.wait_status(cid, "synced")
    assert row["qb_customer_id"] == dormant["Id"]
    assert len(world.qb_customers()) == 1
    assert world.qb_customers()[dormant["Id"]]["Active"] is True  # the platform's is active
    log = world.qb_log()
    assert not log.creates_by_name and log.business_faults() == []  # found first, no create


# Curly quotes and an en dash (written as escapes so they cannot be mistaken for ASCII ones).
CAFE = "Zo\u00eb\u2019s Caf\u00e9 \u2013 Bar"
QUOTED = "\u201cQuoted\u201d O\u2019Neil \u2013 Sons"


async def test_names_with_curly_quotes_and_dashes_are_found_and_created_once(
    world: PushWorld,
) -> None:
    # QuickBooks' query lexer refuses these characters; the emulator does too
    # (docs/reference/quickbooks-online.md#query-language).
    seeded = world.seed("customers", CAFE)
    found = (await world.create_customer(company_name=CAFE))["customer_id"]
    fresh = (await world.create_customer(company_name=QUOTED))["customer_id"]
    await world.push(found)
    await world.push(fresh)

    assert (await world.wait_status(found, "synced"))["qb_customer_id"] == seeded["Id"]
    row = await world.wait_status(fresh, "synced")
    assert world.qb_customers()[row["qb_customer_id"]]["DisplayName"] == QUOTED
    assert len(world.qb_customers()) == 2
    assert world.qb_log().creates_by_name == {QUOTED: 1}


async def test_inner_spaces_count_when_a_name_is_matched(world: PushWorld) -> None:
    seeded = world.emulator.seed_customer(world.realm_id, "Double  Space Ltd")
    cid = (await world.create_customer(company_name="Double  Space Ltd"))["customer_id"]
    await world.push(cid)

    row = await world.wait_status(cid, "synced")
    assert row["qb_customer_id"] == seeded["Id"]  # the exact name, two spaces and all
    assert [c["DisplayName"] for c in world.qb_customers().values()] == ["Double  Space Ltd"]


async def test_a_rename_to_a_vendors_name_ends_needs_link_then_another_name_syncs(
    world: PushWorld,
) -> None:
    world.emulator.seed_vendor(world.realm_id, "Vendor Owned Name")
    cid = (await world.create_customer(company_name="Renamable Co"))["customer_id"]
    await world.push(cid)
    qb_id = (await world.wait_status(cid, "synced"))["qb_customer_id"]

    await world.customers.patch(f"/customers/{cid}", json={"company_name": "Vendor Owned Name"})
    row = await world.wait_status(cid, "needs_link")
    assert row["last_error_code"] == "6240" and "vendor" in row["last_error_message"]
    assert row["qb_customer_id"] == qb_id  # still linked
    assert world.qb_customers()[qb_id]["DisplayName"] == "Renamable Co"
    await world.wait_customer_service_status(cid, "needs_link")

    await world.customers.patch(f"/customers/{cid}", json={"company_name": "Renamed Co"})
    await world.wait_snapshot(cid, company_name="Renamed Co")
    reply = await world.sync.post(f"/quickbooks/sync/{world.realm_id}/{cid}/retry")
    assert reply.status_code == 202, reply.text
    await world.wait_status(cid, "synced")
    assert world.qb_customers()[qb_id]["DisplayName"] == "Renamed Co"
    assert len(world.qb_customers()) == 1


async def test_two_customers_pushing_one_name_at_once_make_one_quickbooks_customer(
    world: PushWorld,
) -> None:
    first = (await world.create_customer(company_name="Twin Name Co"))["customer_id"]
    second = (await world.create_customer(company_name="Twin Name Co"))["customer_id"]
    await asyncio.gather(world.push(first), world.push(second))

    rows = {}
    for cid in (first, second):

        async def settled(cid: str = cid) -> dict | None:
            row = await world.row(cid)
            return row if row and row["status"] in ("synced", "needs_link") else None

        rows[cid] = await wait_for(settled, 30)
    assert sorted(r["status"] for r in rows.values()) == ["needs_link", "synced"]
    [linked] = [r for r in rows.values() if r["status"] == "synced"]
    [other] = [r for r in rows.values() if r["status"] == "needs_link"]
    assert other["candidate_qb_customer_id"] == linked["qb_customer_id"]
    assert len(world.qb_customers()) == 1
    log = world.qb_log()
    assert log.creates_by_name == {"Twin Name Co": 1}
    assert log.business_faults() == []  # the second waited for the first: no create, no 6240


async def test_a_create_not_yet_recorded_is_never_linked_by_another_customer(
    world: PushWorld,
) -> None:
    # The first customer's create is applied, but its answer takes longer than the client waits.
    world.emulator.add_fault(
        "hang_after_commit", realm=world.realm_id, method="POST", path="/customer$", seconds=3.5
    )
    first = (await world.create_customer(company_name="Slow Answer Co"))["customer_id"]
    await world.push(first)

    async def applied() -> bool:
        return bool(world.qb_named("Slow Answer Co"))

    await wait_for(applied, 30)
    # Meanwhile another customer of that name is pushed: the QuickBooks customer is the first's.
    second = (await world.create_customer(company_name="Slow Answer Co"))["customer_id"]
    await world.push(second)

    row = await world.wait_status(first, "synced")
    qb_id = world.qb_named("Slow Answer Co")[0]["Id"]
    assert row["qb_customer_id"] == qb_id
    other = await world.wait_status(second, "needs_link")
    assert other["candidate_qb_customer_id"] == qb_id
    assert len(world.qb_customers()) == 1


async def test_a_link_chosen_in_the_mapping_form_displaces_a_name_match_with_a_report(
    world: PushWorld,
) -> None:
    qb = world.emulator.seed_customer(world.realm_id, "Chosen In Form Co")
    matched = (await world.create_customer(company_name="Chosen In Form Co"))["customer_id"]
    await world.push(matched)
    assert (await world.wait_status(matched, "synced"))["qb_customer_id"] == qb["Id"]

    # The mapping form had linked that QuickBooks customer to another platform customer; its
    # MappingSaved reaches qb-sync only now (it travelled on another partition).
    chosen = (await world.create_customer(company_name="Form Choice"))["customer_id"]
    async with world.db.acquire() as conn, conn.transaction():
        await record_link(conn, world.tenant_id, world.realm_id, chosen, qb["Id"])

    row = await world.wait_status(matched, "needs_link")
    assert row["last_error_code"] == "linked_elsewhere" and row["qb_customer_id"] is None
    await world.wait_customer_service_status(matched, "needs_link")  # told, not silently dropped
    assert (await world.row(chosen))["qb_customer_id"] == qb["Id"]  # type: ignore[index]
