"""An update QuickBooks applied whose answer never came (held past qb-sync's read timeout, then an
outage that outlasts every retry; or qb-sync killed while the answer was on its way). What qb-sync last *knew* QuickBooks held is then wrong: a
change reverted on the platform meanwhile must still be sent back, and a further change must not
be taken for a conflict with qb-sync's own write."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from qb_sync.store.pull_state import request_import
from qb_sync.usecases.pull_realm import Puller
from tests.qbsync.conftest import wait_for
from tests.qbsync.push.conftest import PushWorld
from tests.qbsync.push.test_push_sigkill import (  # noqa: F401 (a fixture)
    _start,
    paused_in_process_worker,
)
from tests.support.ports import free_port


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


@pytest.mark.usefixtures("paused_in_process_worker")  # only the subprocess pushes
async def test_a_rename_reverted_after_qbsync_was_killed_mid_update_is_sent_back(
    world: PushWorld, stack_env: dict[str, str]
) -> None:
    port = free_port()
    process = _start(stack_env, world.emulator.base_url, port)  # qb-sync as its own process
    try:
        cid, qb_id = await _pushed(world, "Killed Revert Alpha")
        world.emulator.add_fault(
            "hang_after_commit", realm=world.realm_id, method="POST", path="/customer$", seconds=20
        )
        await _patch(world, cid, company_name="Killed Revert Beta")
        await _qb_has(world, qb_id, DisplayName="Killed Revert Beta")  # committed, unanswered
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    await _patch(world, cid, company_name="Killed Revert Alpha")
    await world.wait_snapshot(cid, company_name="Killed Revert Alpha")
    world.emulator.set_faults()
    process = _start(stack_env, world.emulator.base_url, port)
    try:
        await _qb_has(world, qb_id, DisplayName="Killed Revert Alpha")
        row = await world.wait_status(cid, "synced")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert row["sync_token"] == int(world.qb_customers()[qb_id]["SyncToken"])


async def test_a_cdc_pass_repairs_a_row_failed_with_an_update_in_doubt(world: PushWorld) -> None:
    cid, qb_id = await _pushed(world, "Cdc Repair Alpha")
    puller = Puller(world.db, world.app.state.gateway, world.app.state.push.settings)
    await request_import(world.db, world.tenant_id, world.realm_id)
    await puller.full_import(world.tenant_id, world.realm_id)  # CDC starts from here
    await _update_lands_unanswered(world, cid, qb_id, company_name="Cdc Repair Beta")
    failed = await world.row(cid)
    assert failed is not None and failed["update_in_doubt"] is True
    world.emulator.set_faults()  # the outage ends; nobody touches the customer or the row

    await puller.cdc(world.tenant_id, world.realm_id)  # shows QuickBooks' new version
    row = await world.wait_status(cid, "synced", 15)
    assert row["sync_token"] == int(world.qb_customers()[qb_id]["SyncToken"])
    assert row["update_in_doubt"] is False
    assert world.qb_customers()[qb_id]["DisplayName"] == "Cdc Repair Beta"
