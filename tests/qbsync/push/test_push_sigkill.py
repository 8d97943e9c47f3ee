"""qb-sync as a subprocess, SIGKILLed at random points while it pushes 1,000 customers, then
restarted: every mapping ends synced, with exactly one QuickBooks customer each, each created
once in QuickBooks (no create ever answered 6240, so none went out twice unnoticed). Run twice:
one customer at a time, and in batches (frozen before a batch goes out, found first after a kill).

The companies are connected through qb-sync's API (tokens the emulator issued, stored
encrypted), so the subprocess pushes with real tokens. The emulator's limits are raised so the
run takes seconds; leases (and so HTTP timeouts, which must fit in them) are short so a killed
process's rows come back quickly. The customers go to four QuickBooks companies of the tenant
(250 each): the emulator renders every customer of a company for each query (BalanceWithJobs
scans the children), so one company of 1,000 makes the emulator, not qb-sync, the bottleneck. The in-process qb-sync of the other tests pauses its
worker meanwhile, so only the subprocess pushes.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections import Counter

import pytest
from fastapi import FastAPI

from tests.qbsync.conftest import wait_for
from tests.qbsync.push.conftest import TENANT_PREFIX, PushWorld, connect_realm
from tests.support.ports import free_port

CUSTOMERS = 1000
REALMS = 4
KILLS = 3


def _start(
    stack_env: dict[str, str], base_url: str, port: int, batches: bool = False
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": stack_env["DATABASE_URL"],
        "KAFKA_BOOTSTRAP_SERVERS": stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        "QBO_ENVIRONMENT": "emulator",
        "QBO_BASE_URL": base_url,
        "HTTP_PORT": str(port),
        "PULL_ENABLED": "false",
        "QBO_REQUESTS_PER_MINUTE": "120000",
        "QBO_REQUESTS_PER_SECOND": "2000",
        "QBO_MAX_CONCURRENT": "16",
        "PUSH_WORKERS": "16",
        "PUSH_LEASE_SECONDS": "4.5",
        "QBO_CONNECT_TIMEOUT_SECONDS": "0.5",
        "QBO_READ_TIMEOUT_SECONDS": "2",
        "PUSH_TICK_SECONDS": "0.05",
        "QBO_RETRY_BASE_SECONDS": "0.05",
        "PUSH_BACKOFF_BASE_SECONDS": "0.1",
        "PUSH_BACKOFF_MAX_SECONDS": "0.5",
        "LOG_LEVEL": "WARNING",
        "PUSH_TENANT_PREFIX": TENANT_PREFIX,
        # Batches: rows are frozen before a batch goes out, and found first after a kill.
        "PUSH_BATCH_ENABLED": "true" if batches else "false",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "qb_sync"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
async def paused_in_process_worker(push_app: FastAPI) -> object:
    side = push_app.state.push
    await side.stop()
    try:
        yield side
    finally:
        side.restart_worker()


@pytest.mark.parametrize("batches", [False, True], ids=["single", "batch"])
async def test_sigkill_during_a_push_of_1000_customers(
    world: PushWorld, stack_env: dict[str, str], paused_in_process_worker: object, batches: bool
) -> None:
    realms = [world.realm_id] + [f"{world.realm_id}{n}" for n in range(1, REALMS)]
    for realm in realms:
        if realm != world.realm_id:
            await connect_realm(world.sync, realm)
        world.emulator.set_limits(realm, per_minute=1_000_000, concurrent=64, per_second=100_000)
    names = {f"Killed {i:04d} O'Neil" for i in range(CUSTOMERS)}
    gate = asyncio.Semaphore(32)

    async def create_and_push(i: int, name: str) -> str:
        async with gate:
            cid = str((await world.create_customer(company_name=name))["customer_id"])
            reply = await world.customers.post(
                f"/customers/{cid}/quickbooks/push", json={"realm_id": realms[i % REALMS]}
            )
            assert reply.status_code == 202, reply.text
            return cid

    ordered = sorted(names)
    # The first create sets the tenant up (reference lists); then many at once.
    ids = [await create_and_push(0, ordered[0])]
    ids += await asyncio.gather(*(create_and_push(i, n) for i, n in enumerate(ordered) if i))

    async def recorded() -> bool:
        count = await world.db.fetchval(
            "SELECT count(*) FROM push_mappings WHERE tenant_id = $1", world.tenant_id
        )
        return int(count) == CUSTOMERS

    await wait_for(recorded, 60)  # every push request consumed; now only pushing is left
    rng = random.Random()
    port = free_port()
    kills = 0

    async def synced() -> int:
        return int(
            await world.db.fetchval(
                "SELECT count(*) FROM push_mappings WHERE tenant_id = $1 AND status = 'synced'",
                world.tenant_id,
            )
        )

    for _ in range(KILLS):
        before = await synced()
        process = _start(stack_env, world.emulator.base_url, port, batches)

        async def progressing(before: int = before) -> bool:
            return await synced() > before

        await wait_for(progressing, 30, interval=0.05)  # it is pushing: kill at a random point
        await asyncio.sleep(rng.uniform(0.0, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    assert await synced() < CUSTOMERS  # the kills did land in the middle of the push
    process = _start(stack_env, world.emulator.base_url, port, batches)
    try:

        async def all_synced() -> bool:
            return await synced() == CUSTOMERS

        await wait_for(all_synced, 120, interval=0.5)

    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    assert kills == KILLS
    in_quickbooks = Counter(
        c["DisplayName"] for realm in realms for c in world.emulator.state(realm).values()
    )
    assert set(in_quickbooks) == names
    assert max(in_quickbooks.values()) == 1  # exactly one QuickBooks customer each
    log = world.qb_log(realms)
    assert log.creates_by_name == Counter(names)  # each reached QuickBooks' logic once
    assert log.business_faults() == []  # and no create was ever answered 6240
    # The batch run really went in batches (so the kills landed around batches).
    assert any(e["path"].endswith("/batch") for e in log.entries) == batches
    rows = await world.db.fetch(
        "SELECT realm_id, customer_id, qb_customer_id FROM push_mappings WHERE tenant_id = $1",
        world.tenant_id,
    )
    assert {r["customer_id"] for r in rows} == set(ids)
    assert len({(r["realm_id"], r["qb_customer_id"]) for r in rows}) == CUSTOMERS
