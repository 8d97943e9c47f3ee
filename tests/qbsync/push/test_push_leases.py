"""Who may push a row, and who may talk to a company: a lease's token fences every write, a
lease is renewed while its push runs however long it takes, and each company's pushes go to one
qb-sync instance at a time (its limits are per company, our token bucket per process).

These tests run their own push workers (real PostgreSQL, the emulator, an issued token) on a
tenant the session's app never pushes, with rows put straight into qb-sync's tables.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI

from qb_sync.domain.outcomes import Outcome
from qb_sync.qbo.gateway import QboGateway
from qb_sync.qbo.token_source import FixedCredentials
from qb_sync.runners.push_worker import PushWorker
from qb_sync.settings import Settings
from qb_sync.store.ownership import RealmOwnership
from qb_sync.store.push.intent import request_push
from qb_sync.store.push.leases import lease_due
from qb_sync.store.push.rows import get_mapping
from qb_sync.store.push.snapshots import save_snapshot
from qb_sync.usecases.push_row import Pusher
from qbo_emulator.testing import EmulatorServer
from tests.qbsync.conftest import wait_for
from tests.qbsync.push.conftest import QuickBooksLog, push_settings

PREFIX = f"leasetest-{uuid.uuid4().hex[:8]}-"


class Company:
    def __init__(self, pool: asyncpg.Pool, emulator: EmulatorServer) -> None:
        self.pool = pool
        self.emulator = emulator
        self.tenant_id = f"{PREFIX}{uuid.uuid4().hex[:8]}"
        self.realm_id = str(5_000_000_000 + uuid.uuid4().int % 1_000_000_000)
        self.token = emulator.add_realm(self.realm_id).access_token

    async def rows_to_push(self, *names: str) -> list[str]:
        ids = [str(uuid.uuid4()) for _ in names]
        async with self.pool.acquire() as conn, conn.transaction():
            for cid, name in zip(ids, names, strict=True):
                snapshot = {
                    "customer_id": cid,
                    "version": 1,
                    "company_name": name,
                    "active": True,
                    "currency": "USD",
                }
                await save_snapshot(conn, self.tenant_id, snapshot)
                await request_push(conn, self.tenant_id, self.realm_id, cid, str(uuid.uuid4()))
        return ids

    async def statuses(self) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT status FROM push_mappings WHERE tenant_id = $1", self.tenant_id
        )
        return [r["status"] for r in rows]


@pytest.fixture
def company(push_app: FastAPI, push_emulator: EmulatorServer) -> Company:
    return Company(push_app.state.runtime.db, push_emulator)


Instance = Callable[..., PushWorker]


@pytest.fixture
async def instances(
    stack_env: dict[str, str], push_emulator: EmulatorServer, company: Company
) -> AsyncIterator[Instance]:
    """Start qb-sync push "instances" (each its own worker, gateway and company ownership)."""
    started: list[tuple[PushWorker, RealmOwnership, QboGateway]] = []

    def start(**overrides: Any) -> PushWorker:
        settings = push_settings(
            stack_env, push_emulator.base_url, push_tenant_prefix=PREFIX, **overrides
        )
        ownership = RealmOwnership(stack_env["DATABASE_URL"])
        gateway = QboGateway(settings, FixedCredentials(company.token), ownership)
        worker = PushWorker(
            company.pool,
            Pusher(company.pool, gateway, settings),
            settings,
            ownership,
            connected_only=False,
        )
        worker.start()
        started.append((worker, ownership, gateway))
        return worker

    yield start
    for worker, ownership, gateway in started:
        await worker.stop()
        await ownership.close()
        gateway.close()


async def test_a_lease_takes_at_most_its_limit_and_concurrent_leasers_share_no_row(
    company: Company,
) -> None:
    await company.rows_to_push(*(f"Many Due {i:03d}" for i in range(150)))
    realms = [(company.tenant_id, company.realm_id)]

    async def lease(owner: str, limit: int) -> list[str]:
        rows = await lease_due(
            company.pool,
            owner,
            limit,
            60,
            realms=realms,
            connected_only=False,
            tenant_prefix=PREFIX,
        )
        return [r.customer_id for r in rows]

    async def leased_in_db() -> dict[str, str]:
        rows = await company.pool.fetch(
            """SELECT customer_id, lease_owner FROM push_mappings
                WHERE tenant_id = $1 AND lease_until > now()""",
            company.tenant_id,
        )
        return {r["customer_id"]: r["lease_owner"] for r in rows}

    try:
        await _lease_a_few_then_many_at_once(lease, leased_in_db)
    finally:  # the other tests' workers push this prefix: leave them no rows
        await company.pool.execute(
            "DELETE FROM push_mappings WHERE tenant_id = $1", company.tenant_id
        )


async def _lease_a_few_then_many_at_once(
    lease: Callable[[str, int], Awaitable[list[str]]],
    leased_in_db: Callable[[], Awaitable[dict[str, str]]],
) -> None:
    first = await lease("one", 1)
    second = await lease("two", 3)
    assert len(first) == 1 and len(second) == 3
    assert await leased_in_db() == {c: "one" for c in first} | {c: "two" for c in second}

    # Eight leasers at once, five rows each: nobody gets more, no row goes to two of them, and
    # every row leased in the database was handed to the one who holds it.
    batches = await asyncio.gather(*(lease(f"worker-{i}", 5) for i in range(8)))
    assert all(len(b) <= 5 for b in batches)
    taken = [c for b in batches for c in b]
    assert len(taken) == len(set(taken)) and not set(taken) & set(first + second)
    assert len(taken) >= 5  # not all skipped each other's rows
    holders = await leased_in_db()
    assert len(holders) == 4 + len(taken)
    for i, b in enumerate(batches):
        assert all(holders[c] == f"worker-{i}" for c in b)


async def test_an_outcome_under_a_lease_taken_over_is_dropped(
    push_app: FastAPI, stack_env: dict[str, str], push_emulator: EmulatorServer, company: Company
) -> None:
    [cid] = await company.rows_to_push("Fenced Co")
    realms = [(company.tenant_id, company.realm_id)]

    # Two tasks of one process (one owner name): the first's lease runs out mid-push, the
    # second takes the row.
    def lease() -> Any:
        return lease_due(
            company.pool,
            "push-worker",
            1,
            60,
            realms=realms,
            connected_only=False,
            tenant_prefix=PREFIX,
        )

    [first] = await lease()
    await company.pool.execute(
        "UPDATE push_mappings SET lease_until = now() - interval '1 second' WHERE customer_id = $1",
        cid,
    )
    [second] = await lease()
    assert first.lease_token is not None and second.lease_token != first.lease_token
    pusher = Pusher(
        company.pool, push_app.state.gateway, push_settings(stack_env, push_emulator.base_url)
    )

    assert first.lease_token is not None
    await pusher.finish(first, first.lease_token, Outcome("failed", code="late", message="late"))
    row = await get_mapping(company.pool, company.tenant_id, company.realm_id, cid)
    assert row is not None and row.status == "pending"  # the late holder wrote nothing
    assert second.lease_token is not None
    await pusher.finish(second, second.lease_token, Outcome("wait", message="current", delay=60))
    row = await get_mapping(company.pool, company.tenant_id, company.realm_id, cid)
    assert row is not None and row.last_error_message == "current"


async def test_a_push_longer_than_its_lease_keeps_the_row(
    company: Company, instances: Instance
) -> None:
    # Four gateway timeouts of a second each before the create goes through: the push takes
    # longer than the 3.5 s lease, which is renewed meanwhile.
    company.emulator.add_fault(
        "timeout", realm=company.realm_id, method="POST", path="/customer$", seconds=1.0, times=4
    )
    await company.rows_to_push("Slow Push Co")
    worker = instances(
        push_workers=2,
        push_lease_seconds=3.5,
        qbo_connect_timeout_seconds=0.5,
        qbo_read_timeout_seconds=1.5,
        qbo_call_retries=5,
    )

    async def synced() -> bool:
        return await company.statuses() == ["synced"]

    await wait_for(synced, 30)
    log = QuickBooksLog(company.emulator, [company.realm_id])
    assert len(log.writes()) == 5  # four timed out, one created: no second worker joined in
    assert log.replays() == []
    assert worker.pushed == 1
    assert log.creates_by_name == {"Slow Push Co": 1}


async def test_each_companys_pushes_go_to_one_instance(
    company: Company, instances: Instance
) -> None:
    names = [f"Owned Co {i}" for i in range(8)]
    await company.rows_to_push(*names)
    one, other = instances(), instances()

    async def synced() -> bool:
        return await company.statuses() == ["synced"] * len(names)

    await wait_for(synced, 30)
    assert sorted([one.pushed, other.pushed]) == [0, len(names)]
    assert QuickBooksLog(company.emulator, [company.realm_id]).creates_by_name == {
        n: 1 for n in names
    }


def test_a_lease_too_short_for_one_http_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="PUSH_LEASE_SECONDS"):
        Settings(push_lease_seconds=60, qbo_connect_timeout_seconds=10, qbo_read_timeout_seconds=60)
