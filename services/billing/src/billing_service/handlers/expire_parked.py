"""The bound on parking: a transaction that waited longer than `parked_max_wait_seconds` for its
customer (or for the entry it corrects) is dead-lettered with the reason, instead of waiting
forever for a tenant or customer that may never exist.

Its Kafka offset was committed when it was parked, so the letter goes through the outbox in the
same database transaction as its removal (store/pending.py `dead_letter_through_outbox`), under
the same per-customer locks as the consumer: a customer arriving at that moment either drains
the transaction first or finds it gone, never both.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from billing_service.store.ledger import WAITS_FOR_CUSTOMER
from billing_service.store.locks import lock_customers
from billing_service.store.pending import (
    Expired,
    dead_letter_through_outbox,
    expired_customers,
    take_expired,
)

log = logging.getLogger(__name__)
CHUNK = 500


def expiry_reason(item: Expired, max_wait_seconds: float) -> str:
    what = (
        f"customer {item.customer_id!r}"
        if item.waits_for == WAITS_FOR_CUSTOMER
        else f"the entry it corrects ({item.waits_for})"
    )
    return (
        f"parked {item.waited_seconds:.0f}s waiting for {what} of tenant "
        f"{item.parked.event.envelope.tenant_id!r}, longer than the {max_wait_seconds:.0f}s allowed"
    )


async def expire_parked_once(pool: asyncpg.Pool, consumer: str, max_wait_seconds: float) -> int:
    """Dead-letter what waited too long, a chunk per transaction; returns how many."""
    expired = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            customers = await expired_customers(conn, max_wait_seconds, CHUNK)
            if not customers:
                return expired
            await lock_customers(conn, customers)
            items = await take_expired(conn, customers, max_wait_seconds)
            for item in items:
                reason = expiry_reason(item, max_wait_seconds)
                await dead_letter_through_outbox(conn, consumer, item.parked.event, reason)
                log.warning(
                    "dead-lettered parked event %s: %s", item.parked.event.envelope.id, reason
                )
        expired += len(items)


async def run_parked_expiry(
    pool: asyncpg.Pool, consumer: str, max_wait_seconds: float, every_seconds: float
) -> None:
    while True:
        try:
            await expire_parked_once(pool, consumer, max_wait_seconds)
        except Exception:
            log.exception("parked expiry failed; next round in %.0fs", every_seconds)
        await asyncio.sleep(every_seconds)
