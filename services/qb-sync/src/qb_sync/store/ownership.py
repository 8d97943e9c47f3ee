"""Which qb-sync instance talks to which QuickBooks company.

QuickBooks' limits are per company (500 requests a minute, 10 in flight), and the token bucket
that keeps us under them lives in one process's memory. So each company is served by one
instance at a time: the instance holds a PostgreSQL session advisory lock for it, on one
dedicated connection, and its push and pull workers only work companies it holds. A killed
instance's locks end with its connection; a company it has not used for `idle_seconds` is let go,
so another instance may take it. (The sync API's rare calls, e.g. reading the customer a user
links, are the exception: they go out from whichever instance got the request.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg

log = logging.getLogger(__name__)

Realm = tuple[str, str]  # (tenant_id, realm_id)
LOCK_SPACE = 0x51B5  # the first key of the two-key advisory lock: "qb-sync company"


class RealmOwnership:
    def __init__(self, dsn: str, *, idle_seconds: float = 120.0) -> None:
        self.dsn = dsn
        self.idle_seconds = idle_seconds
        self._conn: asyncpg.Connection | None = None
        self._held: dict[Realm, float] = {}  # realm -> last use (monotonic)
        self._lock = asyncio.Lock()

    def _alive(self) -> bool:
        if self._conn is None or self._conn.is_closed():
            self._held.clear()  # the locks ended with the connection
            return False
        return True

    def held(self) -> list[Realm]:
        return list(self._held) if self._alive() else []

    def holds(self, realm: Realm) -> bool:
        return self._alive() and realm in self._held

    def touch(self, realm: Realm) -> None:
        if realm in self._held:
            self._held[realm] = time.monotonic()

    async def claim(self, realms: list[Realm]) -> list[Realm]:
        """Try to take each company not held yet; returns those taken now."""
        taken: list[Realm] = []
        async with self._lock:
            try:
                conn = await self._connection()
                for realm in realms:
                    if realm in self._held:
                        continue
                    if await conn.fetchval(
                        "SELECT pg_try_advisory_lock($1, hashtext($2))", LOCK_SPACE, _key(realm)
                    ):
                        self._held[realm] = time.monotonic()
                        taken.append(realm)
                await self._let_idle_go(conn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.warning("company ownership connection lost", exc_info=True)
                await self._reset()
                return []
        return taken

    async def sweep(self) -> None:
        """Let go of companies not used for `idle_seconds`."""
        if not self._held:
            return
        async with self._lock:
            try:
                await self._let_idle_go(await self._connection())
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await self._reset()

    async def claim_one(self, realm: Realm) -> bool:
        if realm in self._held:
            self.touch(realm)
            return True
        return bool(await self.claim([realm]))

    async def release_all(self) -> None:
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                with contextlib.suppress(Exception):
                    await self._conn.execute("SELECT pg_advisory_unlock_all()")
            self._held.clear()

    async def close(self) -> None:
        async with self._lock:
            await self._reset()

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._held.clear()  # locks die with their connection
            self._conn = await asyncpg.connect(self.dsn)
        return self._conn

    async def _let_idle_go(self, conn: asyncpg.Connection) -> None:
        cutoff = time.monotonic() - self.idle_seconds
        for realm, used in list(self._held.items()):
            if used < cutoff:
                await conn.execute(
                    "SELECT pg_advisory_unlock($1, hashtext($2))", LOCK_SPACE, _key(realm)
                )
                del self._held[realm]

    async def _reset(self) -> None:
        self._held.clear()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        self._conn = None


def _key(realm: Realm) -> str:
    return f"{realm[0]}:{realm[1]}"
