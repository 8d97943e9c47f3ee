"""A display name QuickBooks already uses elsewhere: needs_link with the reason, never a rename
or a duplicate; then resolved by the user through the sync API."""

from __future__ import annotations

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
