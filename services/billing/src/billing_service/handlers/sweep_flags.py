"""Periodic sweep: invoices become overdue with the passing of time, not only with events."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import asyncpg

from billing_service.store.flags import refresh_flags
from platform_kit.outbox import add_to_outbox

log = logging.getLogger(__name__)
_CHUNK = 1000


async def sweep_once(pool: asyncpg.Pool, schema: str) -> int:
    """Re-evaluate every account that could be flagged; returns the number of events emitted."""
    today = datetime.now(UTC).date()
    emitted = 0
    async with pool.acquire() as conn:
        async with conn.transaction():
            # One sweeper at a time across instances; the others skip this round.
            if not await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock(hashtext($1))", f"sweep:{schema}"
            ):
                return 0
            accounts = [
                (r["tenant_id"], r["customer_id"], r["currency"])
                for r in await conn.fetch(
                    """SELECT tenant_id, customer_id, currency FROM balances
                       WHERE overdue OR over_credit_limit
                       UNION
                       SELECT DISTINCT tenant_id, customer_id, currency FROM ledger_entries
                       WHERE entry_type = 'invoice' AND due_date < $1
                       ORDER BY 1, 2, 3""",
                    today,
                )
            ]
            for start in range(0, len(accounts), _CHUNK):
                events = await refresh_flags(conn, accounts[start : start + _CHUNK], today)
                await add_to_outbox(conn, events)
                emitted += len(events)
    return emitted


async def run_sweeps(pool: asyncpg.Pool, schema: str, every_seconds: float) -> None:
    while True:
        try:
            emitted = await sweep_once(pool, schema)
            if emitted:
                log.info("flag sweep emitted %d events", emitted)
        except Exception:
            log.exception("flag sweep failed; next round in %.0fs", every_seconds)
        await asyncio.sleep(every_seconds)
