"""Listing customers by keyset: each page starts strictly after the last (sort value, id) seen,
so rows inserted meanwhile never shift or repeat a page."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg

from customer_service.domain.customer import Customer
from customer_service.domain.listing import CustomerQuery
from customer_service.store.customers import COLUMNS, customer_from_row

_SORT_EXPRESSIONS = {
    "name": "lower(c.company_name)",
    "created": "c.created_at",
    "tracking_number": "c.tracking_number",
}

LINKED = (
    "EXISTS (SELECT 1 FROM qb_mappings m WHERE m.customer_id = c.customer_id "
    "AND m.qb_customer_id IS NOT NULL AND m.choice <> 'dont_import')"
)


# Billing keeps a row per account (customer, currency): a customer is overdue, or over its
# credit limit, when any of its accounts is.
OVERDUE = (
    "EXISTS (SELECT 1 FROM billing_flags f WHERE f.tenant_id = c.tenant_id "
    "AND f.customer_id = c.customer_id::text AND f.overdue)"
)
OVER_CREDIT_LIMIT = (
    "EXISTS (SELECT 1 FROM billing_flags f WHERE f.tenant_id = c.tenant_id "
    "AND f.customer_id = c.customer_id::text AND f.credit_limit_exceeded)"
)


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# How long a search may walk the sort order before asking the trigram index instead.
SORTED_WALK_BUDGET = "15ms"


def build_list_sql(query: CustomerQuery, plan: str = "plain") -> tuple[str, list[Any]]:
    """plan: "plain" (filter while walking the sort index) or "matches" (collect the search
    matches by trigram, then sort them)."""
    args: list[Any] = [query.tenant_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    sort = _SORT_EXPRESSIONS[query.sort_key]
    direction = "DESC" if query.descending else "ASC"
    order = f"ORDER BY {sort} {direction}, c.customer_id {direction}"
    rows = ["c.tenant_id = $1"]  # filters on the customer row itself
    if query.status != "all":
        rows.append(f"c.active = {arg(query.status == 'active')}")
    if query.category:
        rows.append(f"c.category = {arg(query.category)}")
    if query.sales_rep:
        rows.append(f"c.sales_rep = {arg(query.sales_rep)}")
    if query.parent_id:
        rows.append(f"c.parent_id = {arg(uuid.UUID(query.parent_id))}")
    if query.after is not None:
        value, after_id = query.after
        if query.sort_key == "created":
            value = datetime.fromisoformat(value)
        op = "<" if query.descending else ">"
        rows.append(f"({sort}, c.customer_id) {op} ({arg(value)}, {arg(uuid.UUID(after_id))})")
    search = f"c.search_text LIKE {arg(_like_pattern(query.q))}" if query.q else None
    flags = []
    if query.linked is not None:
        flags.append(LINKED if query.linked else f"NOT {LINKED}")
    if query.overdue is not None:
        flags.append(OVERDUE if query.overdue else f"NOT {OVERDUE}")

    if plan == "matches" and search:
        # Fenced (OFFSET 0) so the planner collects matches by trigram before sorting.
        source = f"(SELECT * FROM customers c WHERE c.tenant_id = $1 AND {search} OFFSET 0) c"
        where = [*rows, *flags]
    else:
        source = "customers c"
        where = [*rows, *([search] if search else []), *flags]
    columns = ", ".join(f"c.{name}" for name in COLUMNS)
    sql = f"""SELECT {columns}, c.created_at, {sort} AS sort_value, {LINKED} AS linked,
                     {OVERDUE} AS overdue, {OVER_CREDIT_LIMIT} AS credit_limit_exceeded
                FROM {source}
               WHERE {" AND ".join(where) if where else "true"}
               {order}
               LIMIT {arg(query.limit)}"""
    return sql, args


async def list_page(
    conn: asyncpg.Connection | asyncpg.Pool, query: CustomerQuery
) -> list[tuple[Customer, dict[str, Any]]]:
    """Rows with their flags and sort value (for the next cursor)."""
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as own:
            rows = await _fetch_page(own, query)
    else:
        rows = await _fetch_page(conn, query)
    return [
        (
            customer_from_row(row),
            {
                "linked_to_quickbooks": row["linked"],
                "overdue": row["overdue"],
                "credit_limit_exceeded": row["credit_limit_exceeded"],
                "sort_value": row["sort_value"],
                "created_at": row["created_at"],
            },
        )
        for row in rows
    ]


async def _fetch_page(conn: asyncpg.Connection, query: CustomerQuery) -> list[asyncpg.Record]:
    """Searching has two good plans: walk the sort order and filter (fast when matches are
    common), or collect the matches by trigram and sort them (fast when they are rare). Which
    wins cannot be known up front (the planner's guess for multi-word patterns is 15x off), so
    the walk gets a small time budget and the trigram plan runs when it is spent."""
    if query.q and len(query.q) >= 3:
        try:
            async with conn.transaction():
                await conn.execute(
                    "SET LOCAL plan_cache_mode = force_custom_plan; "
                    f"SET LOCAL statement_timeout = '{SORTED_WALK_BUDGET}'"
                )
                sql, args = build_list_sql(query)
                return await conn.fetch(sql, *args)
        except asyncpg.QueryCanceledError:
            await _leave_aborted_transaction(conn)
    plan = "matches" if query.q and len(query.q) >= 3 else "plain"
    sql, args = build_list_sql(query, plan=plan)
    for attempt in range(3):
        try:
            async with conn.transaction():
                # A generic plan cannot see the search pattern at all.
                await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
                return await conn.fetch(sql, *args)
        except asyncpg.QueryCanceledError:
            # The walk's timeout can fire late and cancel the next statement, once.
            await _leave_aborted_transaction(conn)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _leave_aborted_transaction(conn: asyncpg.Connection) -> None:
    """A cancel that lands on COMMIT or ROLLBACK leaves the session inside the transaction."""
    for _ in range(3):
        if not conn.is_in_transaction():
            return
        try:
            await conn.execute("ROLLBACK")
        except asyncpg.QueryCanceledError:
            continue


async def iterate_all(
    pool: asyncpg.Pool, query: CustomerQuery, chunk: int = 1000
) -> AsyncIterator[tuple[Customer, dict[str, Any]]]:
    """Every matching row, fetched chunk by chunk, never holding a connection between chunks."""
    page = CustomerQuery(**{**query.__dict__, "limit": chunk})
    while True:
        rows = await list_page(pool, page)
        for item in rows:
            yield item
        if len(rows) < chunk:
            return
        last, extra = rows[-1]
        value = extra["sort_value"]
        page = page.next_page(
            value.isoformat() if isinstance(value, datetime) else value, last.customer_id
        )


async def flags_for(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, customer_id: str
) -> dict[str, bool]:
    row = await conn.fetchrow(
        f"""SELECT {LINKED} AS linked, {OVERDUE} AS overdue,
                   {OVER_CREDIT_LIMIT} AS credit_limit_exceeded
              FROM customers c
             WHERE c.customer_id = $1 AND c.tenant_id = $2""",
        uuid.UUID(customer_id),
        tenant_id,
    )
    if row is None:
        return {}
    return {
        "linked_to_quickbooks": row["linked"],
        "overdue": row["overdue"],
        "credit_limit_exceeded": row["credit_limit_exceeded"],
    }
