"""Bearer tokens bound to one tenant and a set of scopes (read, write, admin).

Tokens live in the `platform_auth` schema as SHA-256 hashes (they are long random strings, so a
fast hash is enough). `admin` implies `write`, which implies `read`.

    python -m platform_kit.auth create --tenant acme --scopes read,write,admin
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import secrets
import time
from dataclasses import dataclass

import asyncpg
from fastapi import Request

from platform_kit.db import apply_migrations, create_pool, load_migrations
from platform_kit.http import ApiError

AUTH_SCHEMA = "platform_auth"
SCOPE_ORDER = {"read": 1, "write": 2, "admin": 3}
_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    scopes: frozenset[str]

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


class Authenticator:
    """FastAPI dependency factory: `Depends(auth.require("write"))` gives the caller's Principal."""

    def __init__(self, pool_getter) -> None:  # type: ignore[no-untyped-def]
        self._pool_getter = pool_getter
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}

    async def principal_for(self, token: str) -> Principal | None:
        key = hash_token(token)
        cached = self._cache.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        row = await self._pool_getter().fetchrow(
            f"SELECT tenant_id, scopes FROM {AUTH_SCHEMA}.api_tokens "
            "WHERE token_hash = $1 AND revoked_at IS NULL",
            key,
        )
        principal = Principal(row["tenant_id"], frozenset(row["scopes"])) if row else None
        self._cache[key] = (time.monotonic() + _CACHE_SECONDS, principal)
        return principal

    def require(self, scope: str):  # type: ignore[no-untyped-def]
        async def dependency(request: Request) -> Principal:
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

        return dependency


def main() -> None:
    parser = argparse.ArgumentParser(description="Create an API token")
    parser.add_argument("command", choices=["create"])
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--scopes", default="read,write,admin")
    parser.add_argument("--name", default="local")
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()

    async def run() -> str:
        await migrate_auth(args.dsn)
        conn = await asyncpg.connect(args.dsn)
        try:
            return await create_token(conn, args.tenant, args.scopes.split(","), args.name)
        finally:
            await conn.close()

    print(asyncio.run(run()))


if __name__ == "__main__":
    main()
