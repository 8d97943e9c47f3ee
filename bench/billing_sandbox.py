"""Plumbing of the billing benchmark: a schema, topics and consumer group of its own per phase,
the billing process started on them, and when its ledger entries became visible."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient
from harness import create_topics

from platform_kit.db import apply_migrations, create_pool, service_migrations


@dataclass
class Sandbox:
    schema: str
    tx_topic: str
    customer_topic: str
    consumer: str

    @classmethod
    def new(cls, label: str) -> Sandbox:
        tag = uuid.uuid4().hex[:8]
        return cls(
            f"bench_{label}_{tag}",
            f"bench.tx.{tag}",
            f"bench.customers.{tag}",
            f"bench-{label}-{tag}",
        )

    def env(self, bootstrap: str, dsn: str, port: int) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATABASE_URL": dsn,
            "BILLING_SCHEMA": self.schema,
            "TRANSACTIONS_TOPIC": self.tx_topic,
            "CUSTOMER_TOPIC": self.customer_topic,
            "CONSUMER_NAME": self.consumer,
            "HTTP_PORT": str(port),
            "LOG_LEVEL": "WARNING",
        }

    async def create_topics(self, bootstrap: str, partitions: int = 6) -> None:
        names = [self.tx_topic, self.customer_topic]
        await create_topics(bootstrap, names + [f"{n}.dlq" for n in names], partitions)

    async def pool(self, dsn: str) -> asyncpg.Pool:
        pool = await create_pool(dsn, self.schema, min_size=1, max_size=4)
        await apply_migrations(pool, self.schema, service_migrations("billing_service.migrations"))
        return pool

    async def drop(self, pool: asyncpg.Pool) -> None:
        await pool.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        await pool.close()


def start_service(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "billing_service"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def applied(pool: asyncpg.Pool, tenant: str) -> int:
    return int(
        await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE tenant_id = $1", tenant)
    )


async def wait_applied(
    pool: asyncpg.Pool, tenant: str, expected: int, timeout: float = 600
) -> None:
    deadline = time.monotonic() + timeout
    while await applied(pool, tenant) < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {await applied(pool, tenant)} of {expected} applied")
        await asyncio.sleep(0.05)


# --- the two consumers -------------------------------------------------------------------------


class CommitWatcher:
    """Measures lag where a reader sees it: an entry counts once its transaction has committed.

    With `track_commit_timestamp` on (the local stack turns it on), each entry's commit time is
    read once at the end, so nothing watches the ledger while the consumer works: this counts
    the entries twice a second, to know when all have arrived. Otherwise it polls the ledger
    every `interval` seconds for entries past the last one seen and records, per entry, (time
    first visible) - (event time), at most `interval` late. The event time is minted by `stream`
    just before sending, on this machine's clock, so both ends use one clock. `recorded_at` is
    not used (it is the transaction's start, not its commit).
    """

    def __init__(self, pool: asyncpg.Pool, tenant: str, interval: float = 0.02) -> None:
        self.pool, self.tenant, self.interval = pool, tenant, interval
        self.lags: list[float] = []
        self.last_visible = 0.0  # time.time() of the last commit
        self.first_sent = 0.0  # time.time() of the first event's minting
        self.commit_times = False
        self._last_seq = 0

    async def start(self) -> None:
        self.commit_times = await self.pool.fetchval("SHOW track_commit_timestamp") == "on"

    async def wait_for(self, expected: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.commit_times:
                await self._note_visible()
            if await applied(self.pool, self.tenant) >= expected:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {await applied(self.pool, self.tenant)} of {expected}")
            # With commit times the figures do not depend on how often this looks.
            await asyncio.sleep(0.5 if self.commit_times else self.interval)
        if self.commit_times:
            await self._read_commit_times()
        else:
            await self._note_visible()

    async def _note_visible(self) -> None:
        """Entries past the last seen one. (Two members commit out of seq order, so an entry can
        appear behind the last seen one and be missed: the lags are then a large sample.)"""
        rows = await self.pool.fetch(
            """SELECT seq, extract(epoch FROM effective_at) AS sent FROM ledger_entries
               WHERE tenant_id = $1 AND seq > $2 ORDER BY seq""",
            self.tenant,
            self._last_seq,
        )
        now = time.time()
        if rows:
            self._last_seq = rows[-1]["seq"]
            self.lags += [now - float(r["sent"]) for r in rows]
            self.last_visible = now
            self.first_sent = self.first_sent or float(rows[0]["sent"])

    async def _read_commit_times(self) -> None:
        rows = await self.pool.fetch(
            """SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin)) AS committed,
                      extract(epoch FROM effective_at) AS sent
               FROM ledger_entries WHERE tenant_id = $1""",
            self.tenant,
        )
        self.lags = [float(r["committed"]) - float(r["sent"]) for r in rows]
        self.last_visible = max(float(r["committed"]) for r in rows)
        self.first_sent = min(float(r["sent"]) for r in rows)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


async def wait_for_group(bootstrap: str, group: str, members: int, timeout: float = 60) -> None:
    """Until the consumer group is stable with all its members, so no rebalance (a pause of every
    member) lands in the timed stream."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            [response] = await admin.describe_consumer_groups([group])
            _, _, state, _, _, found = response.groups[0][:6]
            if state == "Stable" and len(found) == members:
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"group {group} not stable with {members} members")
    finally:
        await admin.close()
