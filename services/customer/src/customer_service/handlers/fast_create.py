"""Creating a customer in one round trip to PostgreSQL: the create path the API serves.

The general path (handlers/customers.py `create_customer`) costs seven round trips: begin, the
reference lists, a tracking number, the customer row, the outbox row, commit, and the release's
session reset. Here the reference lists are kept in memory with their version, tracking numbers
are taken from the sequence a block at a time, and the customer row and its CustomerCreated
outbox row are written by one statement (one transaction) that writes nothing unless the lists
are still at the version the customer was checked against and the tracking number is free.
Anything else (a stale version, a generated number a client had chosen by hand) is retried, and
a create naming a parent goes the general path. See docs/decisions/0006-customer-api-conventions.md.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict, deque
from typing import Any

import asyncpg

from customer_service.domain.customer import Customer, new_customer
from customer_service.domain.errors import ValidationFailed
from customer_service.domain.reference import ReferenceLists, fill_and_check_references
from customer_service.handlers.customers import (
    create_customer,
    created_event,
    tracking_number_is_taken,
)
from customer_service.store.customers import insert_customer_with_event
from customer_service.store.reference import versioned_reference_lists
from platform_kit.db import create_pool
from platform_kit.outbox import outgoing

# Tenants whose lists one process keeps; the least recently used goes first.
MAX_TENANTS = 10_000
# Tracking numbers taken from the sequence per round trip; a restart leaves the rest unused, a
# gap like a rolled-back nextval leaves.
NUMBER_BLOCK = 50
# Tries of the one statement before the general path takes over (each failed try wrote nothing).
ATTEMPTS = 4
POOL_SIZE = 8


async def _nothing_to_reset(_conn: asyncpg.Connection) -> None:
    """This pool only runs single statements (and the seed's managed transaction), which leave no
    session state behind: no SET, cursor, LISTEN or session advisory lock. asyncpg still rolls
    back a transaction left open; its full reset would cost one more round trip per create."""


class FastCreate:
    def __init__(self, database_url: str, schema: str) -> None:
        self.database_url = database_url
        self.schema = schema
        self.pool: asyncpg.Pool | None = None
        self.lists: OrderedDict[str, tuple[int, ReferenceLists]] = OrderedDict()
        self.numbers: deque[str] = deque()
        self.refilling = asyncio.Lock()

    async def start(self) -> None:
        self.pool = await create_pool(
            self.database_url, self.schema, min_size=1, max_size=POOL_SIZE, reset=_nothing_to_reset
        )

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def create(
        self, general: asyncpg.Pool, tenant_id: str, values: dict[str, Any]
    ) -> Customer:
        """Same answers as `create_customer` (the general path, on the `general` pool)."""
        if self.pool is None or values.get("parent_id") is not None:
            return await create_customer(general, tenant_id, values)
        pool = self.pool
        for _ in range(ATTEMPTS):
            version, checked = await self._checked(pool, tenant_id, values)
            given = checked.get("tracking_number")
            number = given or await self._tracking_number(pool)
            customer = new_customer(
                tenant_id, str(uuid.uuid4()), {**checked, "tracking_number": number}
            )
            inserted, current = await insert_customer_with_event(
                pool, customer, outgoing(created_event(customer)), version
            )
            if inserted:
                return customer
            if current != version:
                self.lists.pop(tenant_id, None)  # the lists changed: check against the new ones
            elif given:
                raise tracking_number_is_taken(given)
            # else a client had chosen this generated number by hand: the next one
        return await create_customer(general, tenant_id, values)

    async def _checked(
        self, pool: asyncpg.Pool, tenant_id: str, values: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """The values with defaults filled and references checked, and the lists' version. A
        refusal is only ever given on lists just read, never on remembered ones."""
        remembered = self.lists.get(tenant_id)
        if remembered is not None:
            self.lists.move_to_end(tenant_id)
            version, lists = remembered
            try:
                return version, fill_and_check_references(values, lists, creating=True)
            except ValidationFailed:
                pass
        async with pool.acquire() as conn:
            version, lists = await versioned_reference_lists(conn, tenant_id)
        self.lists[tenant_id] = (version, lists)
        while len(self.lists) > MAX_TENANTS:
            self.lists.popitem(last=False)
        return version, fill_and_check_references(values, lists, creating=True)

    async def _tracking_number(self, pool: asyncpg.Pool) -> str:
        while not self.numbers:
            async with self.refilling:
                if not self.numbers:
                    rows = await pool.fetch(
                        "SELECT 'C' || nextval('tracking_number_seq') AS n "
                        "FROM generate_series(1, $1)",
                        NUMBER_BLOCK,
                    )
                    self.numbers.extend(r["n"] for r in rows)
        return self.numbers.popleft()
