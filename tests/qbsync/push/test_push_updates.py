"""Changes to a linked customer: sparse updates that keep QuickBooks' other fields and never
reactivate; inactivate/reactivate; a QuickBooks edit at the same time as a platform edit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from qb_sync.store.mirror import publish_mirror
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
    updates = [
        e for e in world.qb_log().writes() if e["requestid"] not in await world.create_request_ids()
    ]
    assert [e.get("replay", False) for e in updates] == [False, True]  # the retry was replayed
    assert world.qb_log().business_faults() == []  # never answered 5010 and re-read


async def test_keeping_quickbooks_values_after_stale_tries_run_out_leaves_quickbooks_alone(
    world: PushWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid, qb_id = await _pushed(world, company_name="Always Stale Co", email="a@stale.example")
    gateway = world.app.state.push.pusher.gateway
    plain_call = gateway.call

    async def another_user_saves_first(
        tenant_id: str, realm_id: str, op: str, fn: Any, **kw: Any
    ) -> Any:
        if realm_id == world.realm_id and op == "push.update":
            # Someone edits another field in QuickBooks just before each of our updates lands.
            await asyncio.to_thread(world.emulator.edit_customer, realm_id, qb_id, Notes=op)
        return await plain_call(tenant_id, realm_id, op, fn, **kw)

    monkeypatch.setattr(gateway, "call", another_user_saves_first)
    await world.customers.patch(f"/customers/{cid}", json={"email": "platform@stale.example"})
    row = await world.wait_status(cid, "conflict")
    monkeypatch.undo()
    assert row["last_error_code"] == "5010"
    assert row["conflict"]["PrimaryEmailAddr"]["platform"] == {"Address": "platform@stale.example"}
    assert row["conflict"]["PrimaryEmailAddr"]["quickbooks"] == {"Address": "a@stale.example"}

    writes = len(world.qb_log().writes())
    reply = await world.sync.post(
        f"/quickbooks/sync/{world.realm_id}/{cid}/resolve", json={"keep": "quickbooks"}
    )
    assert reply.status_code == 200, reply.text
    await world.wait_status(cid, "synced")
    assert _email(world.qb_customers()[qb_id]) == "a@stale.example"  # QuickBooks' value stays
    assert len(world.qb_log().writes()) == writes  # nothing was written to QuickBooks


async def test_a_quickbooks_customer_of_the_name_under_another_parent_is_not_linked(
    world: PushWorld,
) -> None:
    top = world.seed("customers", "Branch Office")  # a top-level customer of that name
    parent = (await world.create_customer(company_name="Holding Group"))["customer_id"]
    child = (await world.create_customer(company_name="Branch Office", parent_id=parent))[
        "customer_id"
    ]
    await world.push(child)

    row = await world.wait_status(child, "needs_link")
    assert row["candidate_qb_customer_id"] == top["Id"]
    assert row["last_error_code"] == "name_under_other_parent"
    assert "ParentRef" not in world.qb_customers()[top["Id"]]  # left where it was


async def test_moving_a_sub_customer_to_another_parent_is_pushed(world: PushWorld) -> None:
    first = (await world.create_customer(company_name="First Parent"))["customer_id"]
    second = (await world.create_customer(company_name="Second Parent"))["customer_id"]
    child = (await world.create_customer(company_name="Moving Child", parent_id=first))[
        "customer_id"
    ]
    await world.push(second)
    await world.push(child)
    child_qb = (await world.wait_status(child, "synced"))["qb_customer_id"]
    second_qb = (await world.wait_status(second, "synced"))["qb_customer_id"]

    patch = await world.customers.patch(f"/customers/{child}", json={"parent_id": second})
    assert patch.status_code == 200, patch.text
    qb = await _qb_has(
        world, child_qb, lambda c: (c.get("ParentRef") or {}).get("value") == second_qb
    )
    assert qb["FullyQualifiedName"] == "Second Parent:Moving Child"
    assert len(world.qb_customers()) == 3


async def test_a_child_whose_parent_needs_a_person_fails_then_syncs_once_the_parent_is_linked(
    world: PushWorld,
) -> None:
    world.seed("vendors", "Vendor Named Parent")
    parent = (await world.create_customer(company_name="Vendor Named Parent"))["customer_id"]
    child = (await world.create_customer(company_name="Waiting Child", parent_id=parent))[
        "customer_id"
    ]
    await world.push(child)
    await world.wait_status(parent, "needs_link")
    row = await world.wait_status(child, "failed")  # attempts counted, not waiting forever
    assert row["last_error_code"] == "parent_not_synced" and row["attempts"] == 6
    await world.wait_customer_service_status(child, "failed")

    existing = world.seed("customers", "Parent In QuickBooks")
    reply = await world.sync.post(
        f"/quickbooks/sync/{world.realm_id}/{parent}/resolve",
        json={"qb_customer_id": existing["Id"]},
    )
    assert reply.status_code == 200, reply.text
    child_row = await world.wait_status(child, "synced")
    assert world.qb_customers()[child_row["qb_customer_id"]]["ParentRef"]["value"] == existing["Id"]


async def test_a_customer_merged_away_in_quickbooks_ends_needs_link_not_failed(
    world: PushWorld,
) -> None:
    cid, qb_id = await _pushed(world, company_name="Merged Away Co")
    survivor = world.seed("customers", "Merge Survivor Co")
    world.emulator.merge(world.realm_id, qb_id, survivor["Id"])  # no webhook, no CDC here

    await world.customers.patch(f"/customers/{cid}", json={"phone": "555-0177"})
    row = await world.wait_status(cid, "needs_link")
    assert row["last_error_code"] == "merged" and qb_id in row["last_error_message"]
    await world.wait_customer_service_status(cid, "needs_link")
    assert "PrimaryPhone" not in world.qb_customers()[survivor["Id"]]  # nothing guessed


async def test_create_here_starts_from_quickbooks_values_not_the_imported_ones(
    world: PushWorld,
) -> None:
    # No CompanyName in QuickBooks: the import fills the platform's from the display name.
    seeded = world.seed("customers", "Fallback Name Co")
    async with world.db.acquire() as conn, conn.transaction():
        await publish_mirror(conn, world.tenant_id, world.realm_id, seeded)

    async def listed() -> bool:
        reply = await world.customers.get(f"/quickbooks/companies/{world.realm_id}/mappings")
        return any(r["qb_customer_id"] == seeded["Id"] for r in reply.json())

    await wait_for(listed, 30)
    form = {"rows": [{"qb_customer_id": seeded["Id"], "choice": "create_here"}]}
    saved = await world.customers.put(f"/quickbooks/companies/{world.realm_id}/mappings", json=form)
    cid = saved.json()["created_customers"][seeded["Id"]]
    assert (await world.customers.get(f"/customers/{cid}")).json()["company_name"] == (
        "Fallback Name Co"
    )
    await world.wait_status(cid, "synced")
    # Someone edits another field in QuickBooks: our stored SyncToken is stale, the update gets
    # 5010 and is merged three ways against what QuickBooks held, which had no CompanyName.
    world.emulator.edit_customer(world.realm_id, seeded["Id"], Notes="edited in QuickBooks")

    await world.customers.patch(f"/customers/{cid}", json={"company_name": "Real Company Inc"})
    qb = await _qb_has(world, seeded["Id"], lambda c: c.get("CompanyName") == "Real Company Inc")
    assert (await world.wait_status(cid, "synced"))["conflict"] is None  # QuickBooks had none
    assert qb["DisplayName"] == "Fallback Name Co" and qb["Notes"] == "edited in QuickBooks"
