"""One-time OAuth `state` values (`qb_oauth_states`): the CSRF proof that a callback answers an
authorization this tenant started. Spent on first use; older than the TTL counts as unknown."""

from __future__ import annotations

from datetime import timedelta

import asyncpg


async def remember_state(pool: asyncpg.Pool, state: str, tenant_id: str) -> None:
    await pool.execute(
        "INSERT INTO qb_oauth_states (state, tenant_id) VALUES ($1, $2)", state, tenant_id
    )


async def spend_state(pool: asyncpg.Pool, state: str, ttl: timedelta) -> str | None:
    """The tenant that started this authorization; None if unknown, expired or used."""
    tenant_id = await pool.fetchval(
        """DELETE FROM qb_oauth_states WHERE state = $1 AND created_at > now() - $2::interval
           RETURNING tenant_id""",
        state,
        ttl,
    )
    return None if tenant_id is None else str(tenant_id)
