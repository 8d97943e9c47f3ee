"""Changes to a linked customer: sparse updates that keep QuickBooks' other fields and never
reactivate; inactivate/reactivate; a QuickBooks edit at the same time as a platform edit."""

from __future__ import annotations

from typing import Any

from qb_sync.mirror import publish_mirror
from tests.qbsync.conftest import wait_for
from tests.qbsync.push.conftest import PushWorld


async def _pushed(world: PushWorld, **fields: Any) -> tuple[str, str]:
    cid = (await world.create_customer(**fields))["customer_id"]
    await world.push(cid)
    row = await world.wait_status(cid, "synced")
    return cid, row["qb_customer_id"]


async def _qb_has(world: PushWorld, qb_id: str, check: Any) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        customer = world.qb_customers()[qb_id]
        return customer if check(customer) else None

    return await wait_for(probe, 30)  # type: ignore[no-any-return]


def _email(customer: dict[str, Any]) -> str | None:
    return (customer.get("PrimaryEmailAddr") or {}).get("Address")


async def test_sparse_updates_keep_other_fields_and_never_reactivate(world: PushWorld) -> None:
    cid, qb_id = await _pushed(
        world, company_name="Umbrella Corp", email="old@umbrella.example", phone="555-0101"
    )
    # Someone fills in fields in QuickBooks that the platform does not own (SyncToken moves on).
    world.emulator.edit_customer(world.realm_id, qb_id, Notes="VIP", GivenName="Alice")

    patch = await world.customers.patch(f"/customers/{cid}", json={"email": "new@umbrella.example"})
    assert patch.status_code == 200, patch.text
    qb = await _qb_has(world, qb_id, lambda c: _email(c) == "new@umbrella.example")
    assert qb["Notes"] == "VIP" and qb["GivenName"] == "Alice"  # kept (re-read after 5010)
    assert qb["PrimaryPhone"]["FreeFormNumber"] == "555-0101"
    assert qb["DisplayName"] == "Umbrella Corp" and qb["Active"] is True

    assert (await world.customers.post(f"/customers/{cid}/inactivate")).status_code == 200
    await _qb_has(world, qb_id, lambda c: c["Active"] is False)
    # An edit of an inactive customer must not bring it back to life in QuickBooks.
    patch = await world.customers.patch(f"/customers/{cid}", json={"phone": "555-0199"})
    assert patch.status_code == 200, patch.text
    qb = await _qb_has(world, qb_id, lambda c: c["PrimaryPhone"]["FreeFormNumber"] == "555-0199")
    assert qb["Active"] is False and qb["Notes"] == "VIP"

    assert (await world.customers.post(f"/customers/{cid}/reactivate")).status_code == 200
    await _qb_has(world, qb_id, lambda c: c["Active"] is True)
    await world.wait_status(cid, "synced")
    assert len(world.qb_customers()) == 1


async def test_same_field_edited_on_both_sides_is_a_conflict_then_resolved(
    world: PushWorld,
) -> None:
    cid, qb_id = await _pushed(world, company_name="Cyberdyne", email="a@cyberdyne.example")
    world.emulator.edit_customer(
        world.realm_id, qb_id, PrimaryEmailAddr={"Address": "qb@cyberdyne.example"}
    )
    await world.customers.patch(f"/customers/{cid}", json={"email": "platform@cyberdyne.example"})

    row = await world.wait_status(cid, "conflict")
    assert row["conflict"]["PrimaryEmailAddr"] == {
        "platform": {"Address": "platform@cyberdyne.example"},
        "quickbooks": {"Address": "qb@cyberdyne.example"},
        "base": {"Address": "a@cyberdyne.example"},
    }
    assert _email(world.qb_customers()[qb_id]) == "qb@cyberdyne.example"  # nothing overwritten
    await world.wait_customer_service_status(cid, "conflict")

    bad = await world.sync.post(f"/quickbooks/sync/{world.realm_id}/{cid}/resolve", json={})
    assert bad.status_code == 422
    reply = await world.sync.post(
        f"/quickbooks/sync/{world.realm_id}/{cid}/resolve", json={"keep": "platform"}
    )
    assert reply.status_code == 200, reply.text
    await _qb_has(world, qb_id, lambda c: _email(c) == "platform@cyberdyne.example")
    await world.wait_status(cid, "synced")
    await world.wait_customer_service_status(cid, "linked")  # the conflict is cleared there too


async def test_keeping_quickbooks_values_leaves_quickbooks_alone(world: PushWorld) -> None:
    cid, qb_id = await _pushed(world, company_name="Tyrell", email="a@tyrell.example")
    world.emulator.edit_customer(
        world.realm_id, qb_id, PrimaryEmailAddr={"Address": "qb@tyrell.example"}
    )
    await world.customers.patch(f"/customers/{cid}", json={"email": "platform@tyrell.example"})
    await world.wait_status(cid, "conflict")
    reply = await world.sync.post(
        f"/quickbooks/sync/{world.realm_id}/{cid}/resolve", json={"keep": "quickbooks"}
    )
    assert reply.status_code == 200, reply.text
    await world.wait_status(cid, "synced")
    assert _email(world.qb_customers()[qb_id]) == "qb@tyrell.example"
    # A later, different platform change still goes through.
    await world.customers.patch(f"/customers/{cid}", json={"phone": "555-0142"})
    await _qb_has(world, qb_id, lambda c: (c.get("PrimaryPhone") or {}).get("FreeFormNumber"))
    assert _email(world.qb_customers()[qb_id]) == "qb@tyrell.example"


async def test_sub_customer_pushed_before_its_parent_waits_then_gets_parent_ref(
    world: PushWorld,
) -> None:
    parent = (await world.create_customer(company_name="Parent Holdings"))["customer_id"]
    child = (await world.create_customer(company_name="Child Branch", parent_id=parent))[
        "customer_id"
    ]
    await world.push(child)  # only the child is asked for: its parent is queued first

    child_row = await world.wait_status(child, "synced")
    parent_row = await world.wait_status(parent, "synced")
    qb_child = world.qb_customers()[child_row["qb_customer_id"]]
    assert qb_child["Job"] is True
    assert qb_child["ParentRef"]["value"] == parent_row["qb_customer_id"]
    assert qb_child["FullyQualifiedName"] == "Parent Holdings:Child Branch"
    assert len(world.qb_customers()) == 2


async def test_create_here_records_the_link_without_calls_then_edits_are_pushed(
    world: PushWorld,
) -> None:
    seeded = world.emulator.seed_customer(
        world.realm_id, "Soylent Green Co", PrimaryEmailAddr={"Address": "a@soylent.example"}
    )
    # Mirror it (what the pull side does) so the customer service's mapping form shows it.
    async with world.db.acquire() as conn, conn.transaction():
        await publish_mirror(conn, world.tenant_id, world.realm_id, seeded)

    async def listed() -> bool:
        reply = await world.customers.get(f"/quickbooks/companies/{world.realm_id}/mappings")
        return any(r["qb_customer_id"] == seeded["Id"] for r in reply.json())

    await wait_for(listed, 30)
    form = {"rows": [{"qb_customer_id": seeded["Id"], "choice": "create_here"}]}
    saved = await world.customers.put(f"/quickbooks/companies/{world.realm_id}/mappings", json=form)
    assert saved.status_code == 200, saved.text
    cid = saved.json()["created_customers"][seeded["Id"]]
    calls = world.emulator.request_count(world.realm_id)

    row = await world.wait_status(cid, "synced")
    assert row["qb_customer_id"] == seeded["Id"]
    assert world.emulator.request_count(world.realm_id) == calls  # linking needs no call
    again = await world.customers.put(f"/quickbooks/companies/{world.realm_id}/mappings", json=form)
    assert again.json()["changed_rows"] == 0

    await world.customers.patch(f"/customers/{cid}", json={"email": "x@soylent.example"})
    await _qb_has(world, seeded["Id"], lambda c: _email(c) == "x@soylent.example")
    assert len(world.qb_customers()) == 1

    # "Don't import" unlinks: a later edit is not pushed.
    form = {"rows": [{"qb_customer_id": seeded["Id"], "choice": "dont_import"}]}
    saved = await world.customers.put(f"/quickbooks/companies/{world.realm_id}/mappings", json=form)
    assert saved.status_code == 200, saved.text

    async def unlinked() -> bool:
        return await world.row(cid) is None

    await wait_for(unlinked, 30)


async def test_an_update_whose_answer_is_lost_is_applied_once(world: PushWorld) -> None:
    cid, qb_id = await _pushed(world, company_name="Massive Dynamic", phone="555-0001")
    token = int(world.qb_customers()[qb_id]["SyncToken"])
    world.emulator.set_faults(
        drop_response_after_commit_next_n=1, realm_id=world.realm_id, path="/customer$"
    )
    await world.customers.patch(f"/customers/{cid}", json={"phone": "555-0002"})
    qb = await _qb_has(
        world, qb_id, lambda c: (c.get("PrimaryPhone") or {}).get("FreeFormNumber") == "555-0002"
    )
    row = await world.wait_status(cid, "synced")
    assert world.emulator.state()["faults"] == []  # the answer was indeed lost once
    assert int(qb["SyncToken"]) == token + 1  # applied once, not twice
    assert row["sync_token"] == token + 1
