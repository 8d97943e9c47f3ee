"""A customer that a push is creating in QuickBooks, seen there (webhook, CDC) before qb-sync has
the create's answer: the mapping form shows it as that push's, and "create here" on it is refused,
so it never becomes a second platform customer."""

from __future__ import annotations

from typing import Any

from qb_sync.store.mirror import publish_mirror
from tests.qbsync.conftest import wait_for
from tests.qbsync.push.conftest import PushWorld


async def _form_row(world: PushWorld, qb_id: str) -> dict[str, Any] | None:
    reply = await world.customers.get(f"/quickbooks/companies/{world.realm_id}/mappings")
    assert reply.status_code == 200, reply.text
    return next((r for r in reply.json() if r["qb_customer_id"] == qb_id), None)


async def _platform_customers_named(world: PushWorld, name: str) -> int:
    reply = await world.customers.get("/customers", params={"q": name, "limit": 100})
    assert reply.status_code == 200, reply.text
    return sum(1 for c in reply.json()["items"] if c["company_name"] == name)


async def test_a_create_in_flight_is_not_offered_for_create_here(world: PushWorld) -> None:
    name = "Inflight Widgets Co"
    cid = (await world.create_customer(company_name=name))["customer_id"]
    # QuickBooks applies the create and holds its answer past the read timeout; then an outage
    # refuses the retries, so qb-sync does not know the create happened.
    world.emulator.add_fault(
        "hang_after_commit", realm=world.realm_id, method="POST", path="/customer$", seconds=5
    )
    await world.push(cid)

    async def created() -> dict[str, Any] | None:
        return next(iter(world.qb_named(name)), None)

    qb = await wait_for(created, 20)
    world.emulator.add_fault("error", realm=world.realm_id, status=503, times=None)
    # The webhook and CDC pass bring it into the customer service's directory, unlinked.
    async with world.db.acquire() as conn, conn.transaction():
        await publish_mirror(conn, world.tenant_id, world.realm_id, qb)
    row = await wait_for(lambda: _form_row(world, qb["Id"]), 30)
    assert row["status"] == "push_in_flight"
    assert row["customer_id"] == cid
    assert row["is_default"] is False

    form = {"rows": [{"qb_customer_id": qb["Id"], "choice": "create_here"}]}
    saved = await world.customers.put(f"/quickbooks/companies/{world.realm_id}/mappings", json=form)
    assert saved.status_code == 409, saved.text
    error = saved.json()["error"]
    assert error["code"] == "push_in_flight"
    assert error["in_flight"] == {qb["Id"]: cid}
    # A default "create here" for every unmapped customer passes it by.
    default = {"default_choice": "create_here", "rows": []}
    saved = await world.customers.put(
        f"/quickbooks/companies/{world.realm_id}/mappings", json=default
    )
    assert saved.status_code == 200, saved.text
    assert qb["Id"] not in saved.json()["created_customers"]
    assert await _platform_customers_named(world, name) == 1

    # The outage ends; the push links its own customer (the retry finds or replays it).
    await world.wait_status(cid, "failed")
    world.emulator.set_faults()
    retried = await world.sync.post(f"/quickbooks/sync/{world.realm_id}/{cid}/retry")
    assert retried.status_code == 202, retried.text
    synced = await world.wait_status(cid, "synced")
    assert synced["qb_customer_id"] == qb["Id"]
    await world.wait_linked_in_customer_service(cid, qb["Id"])
    assert len(world.qb_named(name)) == 1
    assert await _platform_customers_named(world, name) == 1
