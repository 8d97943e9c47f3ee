"""Customer rows: read, insert, update. Callers own the transaction."""

from __future__ import annotations

import json
import typing
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from customer_service.domain.customer import ADDRESS_FIELDS, Customer
from platform_kit.outbox import OUTBOX_COLUMNS, OutgoingEvent, outbox_row

COLUMNS = tuple(Customer.model_fields)
_UUID_COLUMNS = ("customer_id", "parent_id")


def customer_from_row(row: asyncpg.Record) -> Customer:
    values = {name: row[name] for name in COLUMNS}
    for name in _UUID_COLUMNS:
        if values[name] is not None:
            values[name] = str(values[name])
    for name in ADDRESS_FIELDS:
        if isinstance(values[name], str):
            values[name] = json.loads(values[name])
    return Customer(**values)


def _db_value(name: str, value: Any) -> Any:
    if name in ADDRESS_FIELDS:
        # The lines the client (or QuickBooks) gave, as given: unset lines are not stored.
        return json.dumps(value.model_dump(exclude_unset=True)) if value is not None else None
    if name in _UUID_COLUMNS and value is not None:
        return uuid.UUID(value)
    return value


_SELECT = f"SELECT {', '.join(COLUMNS)} FROM customers"


async def load_customer(
    conn: asyncpg.Connection, tenant_id: str, customer_id: str, *, for_update: bool = False
) -> Customer | None:
    try:
        key = uuid.UUID(customer_id)
    except ValueError:
        return None
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"{_SELECT} WHERE customer_id = $1 AND tenant_id = $2{lock}", key, tenant_id
    )
    return customer_from_row(row) if row else None


async def insert_customers(conn: asyncpg.Connection, customers: Sequence[Customer]) -> None:
    placeholders = ", ".join(
        f"${i}::jsonb" if name in ADDRESS_FIELDS else f"${i}"
        for i, name in enumerate(COLUMNS, start=1)
    )
    await conn.executemany(
        f"INSERT INTO customers ({', '.join(COLUMNS)}) VALUES ({placeholders})",
        [[_db_value(n, getattr(c, n)) for n in COLUMNS] for c in customers],
    )


def _sql_type(name: str) -> str:
    """What a parameter for column `name` is cast to: an INSERT ... SELECT cannot infer it."""
    if name in ADDRESS_FIELDS:
        return "jsonb"
    if name in _UUID_COLUMNS:
        return "uuid"
    kinds = {t for t in typing.get_args(Customer.model_fields[name].annotation) if t is not None}
    kinds.add(Customer.model_fields[name].annotation)
    if bool in kinds:
        return "boolean"
    if int in kinds:
        return "bigint"  # assigned to integer columns as well (an assignment cast)
    return "text"


def _insert_with_event_sql() -> str:
    customer_values = ", ".join(
        f"${i}::{_sql_type(name)}" for i, name in enumerate(COLUMNS, start=1)
    )
    n = len(COLUMNS)
    tenant = COLUMNS.index("tenant_id") + 1
    event_values = ", ".join(
        f"${n + 2 + i}::{kind}"
        for i, kind in enumerate(("uuid", "text", "text", "smallint", "jsonb", "bytea"))
    )
    return f"""
        WITH lists AS (SELECT lists_version FROM seeded_tenants WHERE tenant_id = ${tenant}),
             customer AS (
                 INSERT INTO customers ({", ".join(COLUMNS)})
                 SELECT {customer_values} WHERE (SELECT lists_version FROM lists) = ${n + 1}
                 ON CONFLICT (tenant_id, tracking_number) DO NOTHING
                 RETURNING customer_id),
             event AS (
                 INSERT INTO outbox ({OUTBOX_COLUMNS}) SELECT {event_values} FROM customer)
        SELECT (SELECT lists_version FROM lists) AS lists_version,
               EXISTS (SELECT 1 FROM customer) AS inserted"""


_INSERT_WITH_EVENT = _insert_with_event_sql()


async def insert_customer_with_event(
    conn: asyncpg.Connection | asyncpg.Pool,
    customer: Customer,
    event: OutgoingEvent,
    lists_version: int,
) -> tuple[bool, int | None]:
    """The customer row and its event's outbox row in one statement, so in one transaction and
    one round trip. Nothing is written unless the tenant's reference lists are still at
    `lists_version` (the customer was checked against those) and its tracking number is free in
    the tenant. Returns (inserted, the lists' current version; None when the tenant is not
    seeded)."""
    row = await conn.fetchrow(
        _INSERT_WITH_EVENT,
        *[_db_value(n, getattr(customer, n)) for n in COLUMNS],
        lists_version,
        *outbox_row(event),
    )
    assert row is not None
    return row["inserted"], row["lists_version"]


async def update_customer(conn: asyncpg.Connection, customer: Customer, fields: list[str]) -> None:
    names = [*fields, "version"] if "version" not in fields else fields
    assignments = ", ".join(
        f"{n} = ${i}::jsonb" if n in ADDRESS_FIELDS else f"{n} = ${i}"
        for i, n in enumerate(names, start=3)
    )
    await conn.execute(
        f"UPDATE customers SET {assignments}, updated_at = clock_timestamp() "
        "WHERE customer_id = $1 AND tenant_id = $2",
        uuid.UUID(customer.customer_id),
        customer.tenant_id,
        *[_db_value(n, getattr(customer, n)) for n in names],
    )


async def parent_chain(conn: asyncpg.Connection, tenant_id: str, parent_id: str) -> list[str]:
    """The parent and its ancestors, nearest first (bounded, so a corrupt loop cannot hang)."""
    rows = await conn.fetch(
        """WITH RECURSIVE chain(customer_id, parent_id, depth) AS (
               SELECT customer_id, parent_id, 1 FROM customers
                WHERE customer_id = $1 AND tenant_id = $2
               UNION ALL
               SELECT c.customer_id, c.parent_id, chain.depth + 1
                 FROM customers c JOIN chain ON c.customer_id = chain.parent_id
                WHERE chain.depth < 50)
           SELECT customer_id FROM chain ORDER BY depth""",
        uuid.UUID(parent_id),
        tenant_id,
    )
    return [str(r["customer_id"]) for r in rows]


async def chain_lengths(
    conn: asyncpg.Connection, tenant_id: str, customer_ids: Sequence[str]
) -> dict[str, int]:
    """customer id -> how many customers its chain holds (itself and its ancestors), in one query
    for many customers (bounded like parent_chain)."""
    rows = await conn.fetch(
        """WITH RECURSIVE chain(start_id, parent_id, depth) AS (
               SELECT customer_id, parent_id, 1 FROM customers
                WHERE tenant_id = $1 AND customer_id = ANY($2)
               UNION ALL
               SELECT chain.start_id, c.parent_id, chain.depth + 1
                 FROM customers c JOIN chain ON c.customer_id = chain.parent_id
                WHERE c.tenant_id = $1 AND chain.depth < 50)
           SELECT start_id, max(depth) AS length FROM chain GROUP BY start_id""",
        tenant_id,
        [uuid.UUID(cid) for cid in customer_ids],
    )
    return {str(r["start_id"]): r["length"] for r in rows}


async def free_tracking_numbers(conn: asyncpg.Connection, tenant_id: str, count: int) -> list[str]:
    """Up to `count` fresh numbers in one round trip; a number a client already chose by hand is
    skipped, so the caller asks again for the shortfall."""
    rows = await conn.fetch(
        """SELECT n FROM (SELECT 'C' || nextval('tracking_number_seq') AS n
                            FROM generate_series(1, $2)) fresh
            WHERE NOT EXISTS (SELECT 1 FROM customers
                               WHERE tenant_id = $1 AND tracking_number = fresh.n)""",
        tenant_id,
        count,
    )
    return [r["n"] for r in rows]


async def tracking_numbers_taken(
    conn: asyncpg.Connection, tenant_id: str, numbers: Sequence[str]
) -> set[str]:
    rows = await conn.fetch(
        "SELECT tracking_number FROM customers WHERE tenant_id = $1 AND tracking_number = ANY($2)",
        tenant_id,
        list(numbers),
    )
    return {r["tracking_number"] for r in rows}


async def lock_hierarchy(conn: asyncpg.Connection, tenant_id: str) -> None:
    """Serialises parent changes within a tenant, so two concurrent moves cannot form a loop."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"hierarchy:{tenant_id}")
