"""Periodic sweep: invoices become overdue with the passing of time, not only with events.

Only the calendar can change an account between events, and only on the day after one of its
invoices falls due; `balances.next_due_check` records that day whenever the flags are evaluated,
so the sweep visits exactly the accounts whose past-due invoices changed since (never every
account with an old invoice). It works in bounded chunks, one short transaction each, taking
the same per-customer locks as the consumer (store/locks.py) so it never blocks the consumer for
long and never writes flags from a stale balance.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime

import asyncpg

from billing_service.store.balance_sequences import numbered
from billing_service.store.flags import refresh_flags
from billing_service.store.locks import lock_customers
from platform_kit.outbox import add_to_outbox

log = logging.getLogger(__name__)
CHUNK = 500


async def sweep_once(
    pool: asyncpg.Pool, schema: str, *, today: date | None = None, chunk: int = CHUNK
) -> int:
    """Re-evaluate the accounts the calendar may have changed; returns the events emitted."""
    today = today or datetime.now(UTC).date()
    emitted = 0
    async with pool.acquire() as conn:
        # One sweeper at a time across instances (session lock: it spans the chunks).
        if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"sweep:{schema}"):
            return 0
        try:
            after: tuple[str, str, str] = ("", "", "")
            while True:
                accounts = [
                    (r["tenant_id"], r["customer_id"], r["currency"])
                    for r in await conn.fetch(
                        """SELECT tenant_id, customer_id, currency FROM balances
                           WHERE next_due_check <= $1
                             AND (tenant_id, customer_id, currency) > ($2, $3, $4)
                           ORDER BY tenant_id, customer_id, currency LIMIT $5""",
                        today,
                        *after,
                        chunk,
                    )
                ]
                if not accounts:
                    break
                async with conn.transaction():
                    await lock_customers(conn, ((t, c) for t, c, _ in accounts))
                    events = await refresh_flags(conn, accounts, today)
                    await add_to_outbox(conn, await numbered(conn, events))
                emitted += len(events)
                after = accounts[-1]
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"sweep:{schema}")
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
