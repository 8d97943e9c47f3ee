"""Bearer tokens bound to one tenant and a set of scopes (read, write, admin).

Tokens live in the `platform_auth` schema as SHA-256 hashes (they are long random strings, so a
fast hash is enough). `admin` implies `write`, which implies `read`.

Each process caches lookups, bounded (least recently used goes first): a known token for
KNOWN_SECONDS, an unknown one for UNKNOWN_SECONDS in a separate, smaller cache, so a flood of
bogus tokens can neither grow memory nor push real tokens out. Revoking through
`Authenticator.revoke` takes effect at once in that process; every other process stops accepting
the token within KNOWN_SECONDS (its cache entry expires and the lookup sees `revoked_at`).

    python -m platform_kit.auth create --tenant acme --scopes read,write,admin --name "ops laptop"
    python -m platform_kit.auth revoke --token cpt_...
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from platform_kit.db import apply_migrations, create_pool, load_migrations
from platform_kit.http import ApiError

AUTH_SCHEMA = "platform_auth"
SCOPE_ORDER = {"read": 1, "write": 2, "admin": 3}
# How long another process may keep accepting a revoked token (see the module docstring).
KNOWN_SECONDS = 5.0
KNOWN_MAX = 10_000
# Short, so a token created just after a failed try works almost at once.
UNKNOWN_SECONDS = 1.0
UNKNOWN_MAX = 1_000

V = TypeVar("V")

# Declares the bearer scheme in each route's OpenAPI entry; `authenticate` does the checking.
BearerToken = Annotated[
    HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False, scheme_name="bearer"))
]


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    scopes: frozenset[str]
    name: str = ""  # the token's label, e.g. who or what it was issued to

    def allows(self, scope: str) -> bool:
        level = max((SCOPE_ORDER.get(s, 0) for s in self.scopes), default=0)
        return level >= SCOPE_ORDER[scope]


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def migrate_auth(dsn: str) -> None:
    pool = await create_pool(dsn, AUTH_SCHEMA, min_size=1, max_size=1)
    try:
        await apply_migrations(pool, AUTH_SCHEMA, load_migrations("platform_kit.auth_sql"))
    finally:
        await pool.close()


async def create_token(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, scopes: list[str], name: str = ""
) -> str:
    unknown = set(scopes) - set(SCOPE_ORDER)
    if unknown:
        raise ValueError(f"unknown scopes: {sorted(unknown)}")
    token = "cpt_" + secrets.token_urlsafe(32)
    await conn.execute(
        f"INSERT INTO {AUTH_SCHEMA}.api_tokens (token_hash, tenant_id, scopes, name) "
        "VALUES ($1, $2, $3, $4)",
        hash_token(token),
        tenant_id,
        scopes,
        name,
    )
    return token


class TtlLru(Generic[V]):
    """At most `max_entries` values, each for `ttl` seconds; the least recently used goes first."""

    def __init__(self, max_entries: int, ttl: float, clock: Callable[[], float]) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self.clock = clock
        self._entries: OrderedDict[bytes, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: bytes, value: V) -> None:
        self._entries[key] = (self.clock() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def discard(self, key: bytes) -> None:
        self._entries.pop(key, None)


async def revoke_token(conn: asyncpg.Connection | asyncpg.Pool, token: str) -> bool:
    """True when the token existed and was not revoked yet."""
    revoked = await conn.fetchval(
        f"UPDATE {AUTH_SCHEMA}.api_tokens SET revoked_at = now() "
        "WHERE token_hash = $1 AND revoked_at IS NULL RETURNING true",
        hash_token(token),
    )
    return bool(revoked)


class Authenticator:
    """FastAPI dependency factory: `Depends(auth.require("write"))` gives the caller's Principal."""

    def __init__(  # type: ignore[no-untyped-def]
        self,
        pool_getter,
        *,
        clock: Callable[[], float] = time.monotonic,
        known_seconds: float = KNOWN_SECONDS,
        known_max: int = KNOWN_MAX,
        unknown_seconds: float = UNKNOWN_SECONDS,
        unknown_max: int = UNKNOWN_MAX,
    ) -> None:
        self._pool_getter = pool_getter
        self.known: TtlLru[Principal] = TtlLru(known_max, known_seconds, clock)
        self.unknown: TtlLru[bool] = TtlLru(unknown_max, unknown_seconds, clock)

    async def principal_for(self, token: str) -> Principal | None:
        key = hash_token(token)
        principal = self.known.get(key)
        if principal is not None:
            return principal
        if self.unknown.get(key):
            return None
        row = await self._pool_getter().fetchrow(
            f"SELECT tenant_id, scopes, name FROM {AUTH_SCHEMA}.api_tokens "
            "WHERE token_hash = $1 AND revoked_at IS NULL",
            key,
        )
        if row is None:
            self.unknown.put(key, True)
            return None
        principal = Principal(row["tenant_id"], frozenset(row["scopes"]), row["name"] or "")
        self.known.put(key, principal)
        return principal

    async def revoke(self, token: str) -> bool:
        """Revokes the token; this process refuses it from now on, others within KNOWN_SECONDS."""
        revoked = await revoke_token(self._pool_getter(), token)
        key = hash_token(token)
        self.known.discard(key)
        self.unknown.discard(key)
        return revoked

    def require(self, scope: str):  # type: ignore[no-untyped-def]
        async def dependency(request: Request, _documented: BearerToken = None) -> Principal:
            return await self.authenticate(request, scope)

        return dependency

    async def authenticate(self, request: Request, scope: str) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "unauthorized", "a bearer token is required")
        principal = await self.principal_for(token.strip())
        if principal is None:
            raise ApiError(401, "unauthorized", "unknown or revoked token")
        if not principal.allows(scope):
            raise ApiError(403, "forbidden", f"this token lacks the '{scope}' scope")
        return principal


def main() -> None:
    parser = argparse.ArgumentParser(description="Create or revoke an API token")
    parser.add_argument("command", choices=["create", "revoke"])
    parser.add_argument("--tenant", help="create: the token's tenant")
    parser.add_argument("--scopes", default="read,write,admin")
    parser.add_argument("--name", default="local")
    parser.add_argument("--token", help="revoke: the token to revoke")
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    if args.command == "create" and not args.tenant:
        parser.error("create needs --tenant")
    if args.command == "revoke" and not args.token:
        parser.error("revoke needs --token")

    async def run() -> str:
        await migrate_auth(args.dsn)
        conn = await asyncpg.connect(args.dsn)
        try:
            if args.command == "revoke":
                revoked = await revoke_token(conn, args.token)
                return "revoked" if revoked else "no such active token"
            return await create_token(conn, args.tenant, args.scopes.split(","), args.name)
        finally:
            await conn.close()

    print(asyncio.run(run()))


if __name__ == "__main__":
    main()
