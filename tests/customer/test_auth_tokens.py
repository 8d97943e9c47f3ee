"""The token cache (libs/kit auth) as the customer API uses it: bounded, short for unknown
tokens, and revocation that takes effect (at once here, within KNOWN_SECONDS elsewhere)."""

from __future__ import annotations

import secrets

import asyncpg
from fastapi import FastAPI

from platform_kit.auth import (
    AUTH_SCHEMA,
    KNOWN_SECONDS,
    UNKNOWN_SECONDS,
    Authenticator,
    create_token,
    hash_token,
)
from tests.customer.conftest import Tenant


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingPool:
    """The real pool, counting token lookups."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.lookups = 0

    async def fetchrow(self, *args: object) -> asyncpg.Record | None:
        self.lookups += 1
        return await self.pool.fetchrow(*args)

    async def fetchval(self, *args: object) -> object:
        return await self.pool.fetchval(*args)


async def test_bogus_tokens_neither_grow_the_cache_nor_push_real_tokens_out(customer_db):
    pool = CountingPool(customer_db)
    auth = Authenticator(lambda: pool, clock=Clock(), known_max=50, unknown_max=20)
    token = await create_token(customer_db, "tenant-cache", ["read"], name="cache test")
    assert (await auth.principal_for(token)) is not None
    for _ in range(300):
        assert await auth.principal_for("cpt_" + secrets.token_urlsafe(32)) is None
    assert len(auth.unknown) == 20 and len(auth.known) == 1
    before = pool.lookups
    principal = await auth.principal_for(token)
    assert principal is not None and principal.name == "cache test"
    assert pool.lookups == before  # still cached: the flood did not evict it


async def test_an_unknown_token_is_remembered_only_briefly(customer_db):
    clock = Clock()
    auth = Authenticator(lambda: customer_db, clock=clock)
    token = "cpt_" + secrets.token_urlsafe(32)
    assert await auth.principal_for(token) is None
    await customer_db.execute(
        f"INSERT INTO {AUTH_SCHEMA}.api_tokens (token_hash, tenant_id, scopes) "
        "VALUES ($1, 'tenant-late', ARRAY['read'])",
        hash_token(token),
    )
    assert await auth.principal_for(token) is None  # the miss is cached ...
    clock.now += UNKNOWN_SECONDS + 0.01
    principal = await auth.principal_for(token)  # ... for UNKNOWN_SECONDS only
    assert principal is not None and principal.tenant_id == "tenant-late"


async def test_revocation_is_immediate_here_and_bounded_elsewhere(
    customer_app: FastAPI, tenant: Tenant, customer_db
):
    token = tenant.reader.headers["Authorization"].removeprefix("Bearer ")
    clock = Clock()
    other_process = Authenticator(lambda: customer_db, clock=clock)
    assert await other_process.principal_for(token) is not None
    assert (await tenant.reader.get("/customers")).status_code == 200

    assert await customer_app.state.runtime.auth.revoke(token) is True
    refused = await tenant.reader.get("/customers")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"

    # Another process serves its cached answer for at most KNOWN_SECONDS.
    clock.now += KNOWN_SECONDS + 0.01
    assert await other_process.principal_for(token) is None
