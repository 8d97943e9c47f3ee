"""Bulk pushes through QuickBooks' batch endpoint, end to end (real Kafka and PostgreSQL, the
customer service and qb-sync in-process, the emulator through python-quickbooks).

The pushes are requested while the company is not yet connected, so they are all due together
once it is (as in a first push of an existing book): qb-sync then finds their names in bulk and
creates them in batches of at most 30. Whatever QuickBooks does (answers lost after commit,
answers too late, item faults, batch throttling), every customer ends in QuickBooks exactly once,
every row ends synced or in front of a person with QuickBooks' reason, and no batch ever goes out
twice (a lost answer is resolved by finding, never by sending again).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI

from qb_sync.app import create_app
from qbo_emulator.testing import EmulatorServer
from tests.qbsync.conftest import wait_for
from tests.qbsync.push.conftest import (
    PushWorld,
    connect_realm,
    open_world,
    push_settings,
)

# Not under the other push tests' prefix: their qb-sync (batches off) must not push these rows.
BATCH_PREFIX = f"pushbatch-{uuid.uuid4().hex[:8]}-"


@pytest.fixture(scope="module")
async def batch_app(
    stack_env: dict[str, str], push_emulator: EmulatorServer
) -> AsyncIterator[FastAPI]:
    app = create_app(
        push_settings(
            stack_env,
            push_emulator.base_url,
            push_tenant_prefix=BATCH_PREFIX,
            push_batch_enabled=True,
            qbo_batch_per_minute=600,
        )
    )
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def unconnected(
    batch_app: FastAPI, push_customer_app: FastAPI, push_emulator: EmulatorServer
) -> AsyncIterator[PushWorld]:
    """A tenant and a company qb-sync is not connected to yet: pushes wait until `connect`."""
    async with open_world(
        batch_app,
        push_customer_app,
        push_emulator,
        tenant_prefix=BATCH_PREFIX,
        realm_base=6_000_000_000,
        connected=False,
    ) as opened:
        yield opened


async def _request_pushes(world: PushWorld, names: list[str]) -> dict[str, str]:
    """Customers created and their pushes requested, all pending in qb-sync (not connected)."""
    ids: dict[str, str] = {}
    gate = asyncio.Semaphore(8)

    async def one(name: str) -> None:
        async with gate:
            cid = (await world.create_customer(company_name=name))["customer_id"]
            await world.push(cid)
            ids[cid] = name

    await asyncio.gather(*(one(n) for n in names))

    async def all_pending() -> bool:
        count = await world.db.fetchval(
            "SELECT count(*) FROM push_mappings WHERE tenant_id = $1 AND status = 'pending'",
            world.tenant_id,
        )
        return int(count) == len(names)

    await wait_for(all_pending, 60)
    return ids


def _batches(world: PushWorld) -> list[dict[str, Any]]:
    """Batch requests that reached QuickBooks' business logic (not throttled or refused)."""
    return [
        e
        for e in world.qb_log().entries
        if e["path"].endswith("/batch") and not e.get("throttled") and not e.get("refused")
    ]


def _single_creates(world: PushWorld) -> list[dict[str, Any]]:
    return world.qb_log().writes()


async def _assert_each_once(world: PushWorld, ids: dict[str, str], status: str = "synced") -> None:
    rows = await asyncio.gather(*(world.wait_status(cid, status, 90) for cid in ids))
    in_qb = Counter(c["DisplayName"] for c in world.qb_customers().values())
    for row in rows:
        name = ids[row["customer_id"]]
        assert in_qb[name] == 1, f"{name!r} exists {in_qb[name]} times in QuickBooks"
        assert world.qb_customers()[row["qb_customer_id"]]["DisplayName"] == name
    assert len({row["qb_customer_id"] for row in rows}) == len(ids)


def _no_batch_sent_twice(world: PushWorld) -> None:
    ids = Counter(e["requestid"] for e in _batches(world))
    assert all(ids), "every batch carries a requestid"
    assert all(len(r) <= 36 for r in ids)
    assert [r for r, n in ids.items() if n > 1] == []
    assert not any(e.get("replay") for e in _batches(world))


async def test_a_first_push_of_many_customers_goes_in_batches(unconnected: PushWorld) -> None:
    world = unconnected
    world.emulator.set_limits(world.realm_id, per_minute=100_000, per_second=1000)
    ids = await _request_pushes(world, [f"Bulk {i:03d} O'Neil" for i in range(70)])
    await connect_realm(world.sync, world.realm_id)
    await _assert_each_once(world, ids)
    batches = _batches(world)
    assert len(batches) >= 3  # 70 creates: at least three batches of at most 30
    assert len(_single_creates(world)) < 5  # (a straggler may go alone)
    finds = [e for e in world.qb_log().entries if e["path"].endswith("/query")]
    assert len(finds) <= len(ids) // 5  # names are found many at a time
    _no_batch_sent_twice(world)
    assert world.qb_log().creates_by_name == Counter(ids.values())


async def test_lost_and_late_batch_answers_are_found_not_sent_again(
    unconnected: PushWorld,
) -> None:
    world = unconnected
    world.emulator.set_limits(world.realm_id, per_minute=100_000, per_second=1000)
    # Two batches applied whose answers are cut, one answered after qb-sync gave up (3 s read
    # timeout), and one refused with a 503 (nothing applied).
    world.emulator.add_fault("drop_after_commit", realm=world.realm_id, path="/batch$", times=2)
    world.emulator.add_fault(
        "hang_after_commit", realm=world.realm_id, path="/batch$", seconds=3.5, times=1
    )
    world.emulator.add_fault("error", realm=world.realm_id, path="/batch$", status=503, times=1)
    ids = await _request_pushes(world, [f"Lost {i:03d}" for i in range(100)])
    await connect_realm(world.sync, world.realm_id)
    await _assert_each_once(world, ids)
    assert world.emulator.state()["faults"] == []  # every planned fault happened
    _no_batch_sent_twice(world)
    assert world.qb_log().creates_by_name == Counter(ids.values())
    statuses = Counter(
        r["status"]
        for r in await world.db.fetch(
            "SELECT status FROM push_mappings WHERE tenant_id = $1", world.tenant_id
        )
    )
    assert statuses == Counter({"synced": len(ids)})


async def _each_created_once(world: PushWorld, names: list[str]) -> list[dict[str, Any]]:
    """Every customer synced and created once; the creates QuickBooks answered one by one."""
    ids = await _request_pushes(world, names)
    await connect_realm(world.sync, world.realm_id)
    await _assert_each_once(world, ids)
    assert world.qb_log().creates_by_name == Counter(ids.values())
    singles = _single_creates(world)
    assert [e for e in singles if e["status"] != 200] == []  # no 6240 from a second try
    return singles


def _batch_statuses(world: PushWorld) -> Counter[int]:
    return Counter(e["status"] for e in world.qb_log().entries if e["path"].endswith("/batch"))


async def test_a_batch_too_large_for_quickbooks_is_split_and_each_customer_created_once(
    unconnected: PushWorld,
) -> None:
    world = unconnected
    world.emulator.set_limits(world.realm_id, per_minute=100_000, per_second=1000)
    # QuickBooks' front end refuses an over-large body with 413 and an HTML page, nothing
    # applied (ruckus/quickbooks-ruby#361): here a batch of 30 of these is too large, a
    # handful is not.
    world.emulator.configure(max_body_bytes=2_500)
    try:
        singles = await _each_created_once(
            world, [f"Too Large {i:02d} Holdings Incorporated" for i in range(40)]
        )
    finally:
        world.emulator.configure(max_body_bytes=1_000_000)
    statuses = _batch_statuses(world)
    assert statuses[413] >= 1 and statuses[200] >= 4
    assert len(singles) < 10  # split into smaller batches, not sent one by one
    _no_batch_sent_twice(world)


async def test_a_batch_refused_whole_goes_one_by_one(unconnected: PushWorld) -> None:
    world = unconnected
    world.emulator.set_limits(world.realm_id, per_minute=100_000, per_second=1000)
    # More items than QuickBooks takes in one batch: the whole request is refused (a 6000 fault,
    # nothing applied), whatever the items.
    world.emulator.configure(batch_max_items=4)
    try:
        singles = await _each_created_once(world, [f"Refused Whole {i:02d}" for i in range(12)])
    finally:
        world.emulator.configure(batch_max_items=30)
    assert set(_batch_statuses(world)) == {400}
    assert len(singles) == 12  # each alone, once


async def test_item_faults_are_handled_per_customer(unconnected: PushWorld) -> None:
    world = unconnected
    world.emulator.set_limits(world.realm_id, per_minute=100_000, per_second=1000)
    # A vendor holds one name (6240); a customer made in QuickBooks holds another (found in
    # bulk: linked, not created).
    world.emulator.seed_realm(
        world.realm_id,
        customers=["Item Already There"],
        vendors=["Item Vendor Clash"],
        permissive=False,
    )
    world.seeded.update(["Item Already There", "Item Vendor Clash"])
    names = [f"Item {i:02d}" for i in range(20)]
    names += ["Item Vendor Clash", "Item Already There", "Item Refused"]
    # QuickBooks refuses one item with a validation fault (a rule of the emulator).
    world.emulator.add_fault(
        "refuse_write",
        realm=world.realm_id,
        name="^Item Refused$",
        detail="Invalid email address format.",
        times=None,
    )
    ids = await _request_pushes(world, names)
    by_name = {n: c for c, n in ids.items()}
    await connect_realm(world.sync, world.realm_id)
    clash = await world.wait_status(by_name["Item Vendor Clash"], "needs_link", 60)
    assert "vendor" in clash["last_error_message"]
    bad = await world.wait_status(by_name["Item Refused"], "failed", 60)
    assert bad["last_error_code"] == "6000"
    assert "Invalid email address format." in bad["last_error_message"]
    there = await world.wait_status(by_name["Item Already There"], "synced", 60)
    assert there["qb_customer_id"] == world.qb_named("Item Already There")[0]["Id"]
    assert len(world.qb_named("Item Already There")) == 1
    good = {c: n for c, n in ids.items() if n.startswith("Item ") and n[5:7].isdigit()}
    await _assert_each_once(world, good)
    _no_batch_sent_twice(world)
    assert world.qb_log().creates_by_name == Counter(good.values())


async def test_a_throttling_storm_ends_with_every_customer_synced_once(
    unconnected: PushWorld,
) -> None:
    world = unconnected
    # Far below what qb-sync's pacing allows in these tests: finds and batches get 429s.
    world.emulator.set_limits(world.realm_id, per_minute=600, concurrent=1, per_second=2)
    ids = await _request_pushes(world, [f"Throttled Batch {i:03d}" for i in range(80)])
    await connect_realm(world.sync, world.realm_id)
    await _assert_each_once(world, ids)
    assert world.emulator.throttled_count(world.realm_id) > 0
    _no_batch_sent_twice(world)
    assert world.qb_log().creates_by_name == Counter(ids.values())


async def test_updates_of_many_customers_go_in_batches_with_faults_per_item(
    unconnected: PushWorld, batch_app: FastAPI
) -> None:
    world = unconnected
    world.emulator.set_limits(world.realm_id, per_minute=100_000, per_second=1000)
    world.emulator.seed_realm(world.realm_id, vendors=["Upd Vendor Clash"], permissive=False)
    ids = await _request_pushes(world, [f"Upd {i:02d}" for i in range(24)])
    await connect_realm(world.sync, world.realm_id)
    await _assert_each_once(world, ids)
    qb_ids = {cid: str((await world.row(cid) or {})["qb_customer_id"]) for cid in ids}
    side = batch_app.state.push
    await side.stop()  # the platform's changes pile up, then go out together
    try:
        ordered = sorted(ids, key=ids.__getitem__)
        stale, clash = ordered[:3], ordered[3]
        for cid in ordered:
            new = {"email": f"billing{ids[cid][4:]}@example.com"}
            if cid == clash:
                new["company_name"] = "Upd Vendor Clash"
            reply = await world.customers.patch(f"/customers/{cid}", json=new)
            assert reply.status_code == 200, reply.text
        for cid in stale:  # edited in QuickBooks meanwhile: their SyncTokens moved on (5010)
            world.emulator.edit_customer(world.realm_id, qb_ids[cid], Notes="edited in QBO")
        for cid in ordered:
            await world.wait_snapshot(cid, email=f"billing{ids[cid][4:]}@example.com")
        batches_before = len(_batches(world))
    finally:
        side.restart_worker()
    for cid in ordered:
        if cid != clash:
            await world.wait_status(cid, "synced", 60)
    row = await world.wait_status(clash, "needs_link", 60)
    assert "renaming" in row["last_error_message"] and "vendor" in row["last_error_message"]
    customers = world.qb_customers()
    for cid in ordered:
        email = (customers[qb_ids[cid]].get("PrimaryEmailAddr") or {}).get("Address")
        if cid != clash:
            assert email == f"billing{ids[cid][4:]}@example.com"
    for cid in stale:  # re-read after 5010 and merged: the QuickBooks edit is kept
        assert customers[qb_ids[cid]]["Notes"] == "edited in QBO"
    assert len(_batches(world)) > batches_before  # the updates went in batches
    single_updates = [e for e in world.qb_log().writes() if e["status"] == 200]
    assert len(single_updates) <= len(stale)  # only the stale ones went again, one by one
    assert len(customers) == len(ids)
