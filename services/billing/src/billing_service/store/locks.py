"""One lock per customer, taken in one global order by every writer of balances.

The consumer (for every customer a poll touches: customer facts and transactions together), the
record-payment API and the flag sweep all take these transaction-scoped advisory locks before
they read or write a customer's accounts, sorted by key, in one statement. So two writers never
wait on each other in a cycle (no deadlock), the sweep never acts on a stale balance, and the
lock also covers customers and accounts that have no row yet (parking versus draining pending
transactions, two writers of one payment id).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import asyncpg


def customer_lock_key(tenant_id: str, customer_id: str) -> int:
    digest = hashlib.blake2b(f"billing\x1f{tenant_id}\x1f{customer_id}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


async def lock_customers(conn: asyncpg.Connection, customers: Iterable[tuple[str, str]]) -> None:
    """Block until this transaction holds every named customer's lock (held until commit)."""
    keys = sorted({customer_lock_key(t, c) for t, c in set(customers)})  # hash each one once
    if keys:
        # unnest yields the array in order, so the locks are taken in ascending key order.
        await conn.execute("SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k", keys)
