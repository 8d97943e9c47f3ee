"""QuickBooks misbehaving while customers are pushed: lost answers, timeouts, throttling.
Whatever happens, every mapping ends synced with exactly one QuickBooks customer each."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.qbsync.push.conftest import PushWorld


async def _push_many(world: PushWorld, prefix: str, n: int) -> dict[str, str]:
    ids: dict[str, str] = {}
    for i in range(n):
        name = f"{prefix} {i:03d}"
        ids[(await world.create_customer(company_name=name))["customer_id"]] = name
    for cid in ids:
        await world.push(cid)
    return ids


async def _assert_all_synced_once(world: PushWorld, ids: dict[str, str]) -> None:
    rows = await asyncio.gather(*(world.wait_status(cid, "synced", 60) for cid in ids))
    names = Counter(c["DisplayName"] for c in world.qb_customers().values())
    for row in rows:
        name = ids[row["customer_id"]]
        assert names[name] == 1, f"{name!r} exists {names[name]} times in QuickBooks"
        assert world.qb_customers()[row["qb_customer_id"]]["DisplayName"] == name
    assert len({row["qb_customer_id"] for row in rows}) == len(ids)


async def test_answers_lost_after_commit_create_no_duplicates(world: PushWorld) -> None:
    # The emulator commits each create, then cuts the connection before the answer.
    world.emulator.set_faults(
        drop_response_after_commit_next_n=6, realm_id=world.realm_id, path="/customer$"
    )
    ids = await _push_many(world, "Dropped", 8)
    await _assert_all_synced_once(world, ids)
    assert world.emulator.state()["faults"] == []  # every planned drop happened


async def test_timeouts_and_5xx_are_retried_without_duplicates(world: PushWorld) -> None:
    world.emulator.set_faults(
        timeout_next_n=4, timeout_seconds=0.3, fail_next_n_5xx=4, realm_id=world.realm_id
    )
    ids = await _push_many(world, "Flaky", 8)
    await _assert_all_synced_once(world, ids)
    assert world.emulator.state()["faults"] == []


async def test_a_throttling_storm_ends_with_every_customer_synced_once(world: PushWorld) -> None:
    # Far below what qb-sync's pacing allows in these tests, so QuickBooks answers 429 a lot.
    world.emulator.set_limits(world.realm_id, per_minute=600, concurrent=2, per_second=4)
    ids = await _push_many(world, "Throttled", 12)
    await _assert_all_synced_once(world, ids)
    assert world.emulator.throttled_count(world.realm_id) > 0


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
