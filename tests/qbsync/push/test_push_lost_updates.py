"""An update QuickBooks applied whose answer never came (held past qb-sync's read timeout, then an
outage that outlasts every retry). What qb-sync last *knew* QuickBooks held is then wrong: a
change reverted on the platform meanwhile must still be sent back, and a further change must not
be taken for a conflict with qb-sync's own write."""

from __future__ import annotations

from typing import Any

from tests.qbsync.conftest import wait_for
from tests.qbsync.push.conftest import PushWorld


async def _pushed(world: PushWorld, name: str) -> tuple[str, str]:
    cid = (await world.create_customer(company_name=name))["customer_id"]
    await world.push(cid)
    row = await world.wait_status(cid, "synced")
    return cid, row["qb_customer_id"]


async def _qb_has(world: PushWorld, qb_id: str, **values: Any) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        customer = world.qb_customers()[qb_id]
        return customer if all(customer.get(k) == v for k, v in values.items()) else None

    return await wait_for(probe, 20)  # type: ignore[no-any-return]


async def _patch(world: PushWorld, cid: str, **fields: Any) -> None:
    if "active" in fields:  # the platform (in)activates through its own endpoints
        verb = "reactivate" if fields.pop("active") else "inactivate"
        reply = await world.customers.post(f"/customers/{cid}/{verb}")
        assert reply.status_code == 200, reply.text
    if fields:
        reply = await world.customers.patch(f"/customers/{cid}", json=fields)
        assert reply.status_code == 200, reply.text


async def _update_lands_unanswered(world: PushWorld, cid: str, qb_id: str, **change: Any) -> None:
    """Make the platform change `change`; QuickBooks applies it but its answer is held past the
    client's read timeout (3 s here), and an outage then refuses every call, retries included,
    until the test ends it. Returns once QuickBooks holds the change and qb-sync has used up its
    attempts on it (no attempt is still on its way to meet the end of the outage)."""
    world.emulator.add_fault(
        "hang_after_commit", realm=world.realm_id, method="POST", path="/customer$", seconds=5
    )
    fields = {"company_name": "DisplayName", "active": "Active"}
    await _patch(world, cid, **dict(change))
    await _qb_has(world, qb_id, **{fields[k]: v for k, v in change.items()})
    world.emulator.add_fault("error", realm=world.realm_id, status=503, times=None)

    await world.wait_status(cid, "failed")


async def test_a_rename_reverted_while_its_answer_was_lost_is_sent_back(world: PushWorld) -> None:
    cid, qb_id = await _pushed(world, "Lost Revert Alpha")
    await _update_lands_unanswered(world, cid, qb_id, company_name="Lost Revert Beta")
    await _patch(world, cid, company_name="Lost Revert Alpha")  # reverted on the platform
    await world.wait_snapshot(cid, company_name="Lost Revert Alpha")
    world.emulator.set_faults()  # the outage ends
    await _qb_has(world, qb_id, DisplayName="Lost Revert Alpha")
    row = await world.wait_status(cid, "synced")
    assert world.qb_customers()[qb_id]["DisplayName"] == "Lost Revert Alpha"
    assert row["sync_token"] == int(world.qb_customers()[qb_id]["SyncToken"])


async def test_an_inactivation_reverted_while_its_answer_was_lost_is_undone(
    world: PushWorld,
) -> None:
    cid, qb_id = await _pushed(world, "Lost Reactivate Co")
    await _update_lands_unanswered(world, cid, qb_id, active=False)
    await _patch(world, cid, active=True)
    await world.wait_snapshot(cid, active=True)
    world.emulator.set_faults()
    await _qb_has(world, qb_id, Active=True)
    await world.wait_status(cid, "synced")
    assert world.qb_customers()[qb_id]["Active"] is True


async def test_a_further_change_after_a_lost_answer_is_no_conflict(world: PushWorld) -> None:
    cid, qb_id = await _pushed(world, "Lost Chain Alpha")
    await _update_lands_unanswered(world, cid, qb_id, company_name="Lost Chain Beta")
    await _patch(world, cid, company_name="Lost Chain Gamma")
    await world.wait_snapshot(cid, company_name="Lost Chain Gamma")
    world.emulator.set_faults()
    await _qb_has(world, qb_id, DisplayName="Lost Chain Gamma")
    row = await world.wait_status(cid, "synced")
    assert row["conflict"] is None
    assert world.qb_log().business_faults() == []  # never sent on a stale SyncToken
