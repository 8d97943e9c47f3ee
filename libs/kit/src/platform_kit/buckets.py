"""The relays of one schema share the outbox's buckets fairly, through advisory locks.

Each relay holds, on its one connection, a *slot* lock (its membership; it also names the relay's
Kafka transactional id) and the locks of the buckets it owns. The live members are the slot locks
held (pg_locks); with n members, the member of rank r owns the buckets b with b % n == r. Every
rebalance a relay first lets go of the buckets no longer its share, then claims those that are:
a bucket only changes hands between two batches, so one key is published by one relay at a time.
A relay that dies drops its locks with its connection and the others take its share.
"""

from __future__ import annotations

import asyncpg

from platform_kit.outbox import BUCKETS

MAX_SLOTS = 64

_LOCK = "SELECT pg_try_advisory_lock(hashtext($1), $2)"
_UNLOCK = "SELECT pg_advisory_unlock(hashtext($1), $2)"
_HELD = """SELECT objid::int FROM pg_locks
            WHERE locktype = 'advisory' AND granted AND objsubid = 2
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND classid = (hashtext($1)::bigint & 4294967295)::oid
            ORDER BY objid"""


def fair_share(slot: int, members: list[int]) -> set[int]:
    rank = sorted(members).index(slot)
    return {b for b in range(BUCKETS) if b % len(members) == rank}


class BucketShare:
    def __init__(self, schema: str) -> None:
        self.bucket_space = f"outbox:{schema}"
        self.slot_space = f"outbox-relay:{schema}"
        self.slot: int | None = None
        self.owned: set[int] = set()
        self._members: set[int] = set()

    async def join(self, conn: asyncpg.Connection) -> int:
        """Take the lowest free slot (a restarted relay gets its old one back)."""
        for slot in range(MAX_SLOTS):
            if await conn.fetchval(_LOCK, self.slot_space, slot):
                self.slot = slot
                return slot
        raise RuntimeError(f"more than {MAX_SLOTS} relays for {self.slot_space}")

    async def members(self, conn: asyncpg.Connection) -> list[int]:
        return [r[0] for r in await conn.fetch(_HELD, self.slot_space)]

    async def bucket_holders(self, conn: asyncpg.Connection) -> list[int]:
        return [r[0] for r in await conn.fetch(_HELD, self.bucket_space)]

    async def rebalance(self, conn: asyncpg.Connection) -> set[int]:
        """Move towards this relay's fair share; returns the slots that left since last time."""
        assert self.slot is not None, "join first"
        members = await self.members(conn)
        if self.slot not in members:
            raise RuntimeError("this relay's slot lock is gone")
        target = fair_share(self.slot, members)
        for bucket in sorted(self.owned - target):
            await conn.fetchval(_UNLOCK, self.bucket_space, bucket)
            self.owned.discard(bucket)
        for bucket in sorted(target - self.owned):
            if await conn.fetchval(_LOCK, self.bucket_space, bucket):
                self.owned.add(bucket)
        departed = self._members - set(members)
        self._members = set(members)
        return departed

    async def hold_slot(self, conn: asyncpg.Connection, slot: int) -> bool:
        return bool(await conn.fetchval(_LOCK, self.slot_space, slot))

    async def release_slot(self, conn: asyncpg.Connection, slot: int) -> None:
        await conn.fetchval(_UNLOCK, self.slot_space, slot)
