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


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def build_list_sql(query: CustomerQuery, matches_first: bool = False) -> tuple[str, list[Any]]:
    args: list[Any] = [query.tenant_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where = ["c.tenant_id = $1"]
    source = "customers c"
    if query.q and matches_first:
        # Fenced (OFFSET 0): find the matches through the trigram index, then sort them.
        source = (
            "(SELECT * FROM customers WHERE tenant_id = $1 AND search_text LIKE "
            f"{arg(_like_pattern(query.q))} OFFSET 0) c"
        )
    elif query.q:
        where.append(f"c.search_text LIKE {arg(_like_pattern(query.q))}")
    if query.status != "all":
        where.append(f"c.active = {arg(query.status == 'active')}")
    if query.category:
        where.append(f"c.category = {arg(query.category)}")
    if query.sales_rep:
        where.append(f"c.sales_rep = {arg(query.sales_rep)}")
    if query.parent_id:
        where.append(f"c.parent_id = {arg(uuid.UUID(query.parent_id))}")
    if query.linked is not None:
        where.append(LINKED if query.linked else f"NOT {LINKED}")
    if query.overdue is not None:
        where.append(
            "coalesce(f.overdue, false)" if query.overdue else "NOT coalesce(f.overdue, false)"
        )
    sort = _SORT_EXPRESSIONS[query.sort_key]
    direction = "DESC" if query.descending else "ASC"
    if query.after is not None:
        value, after_id = query.after
        if query.sort_key == "created":
            value = datetime.fromisoformat(value)
        op = "<" if query.descending else ">"
        where.append(f"({sort}, c.customer_id) {op} ({arg(value)}, {arg(uuid.UUID(after_id))})")
    columns = ", ".join(f"c.{name}" for name in COLUMNS)
    sql = f"""SELECT {columns}, c.created_at, {sort} AS sort_value, {LINKED} AS linked,
                     coalesce(f.overdue, false) AS overdue,
                     coalesce(f.credit_limit_exceeded, false) AS credit_limit_exceeded
                FROM {source}
                LEFT JOIN billing_flags f
                  ON f.tenant_id = c.tenant_id AND f.customer_id = c.customer_id::text
               WHERE {" AND ".join(where)}
               ORDER BY {sort} {direction}, c.customer_id {direction}
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


# How long walking the sort order may look for matches before the trigram index is asked.
SORTED_WALK_BUDGET = "15ms"


async def _fetch_page(conn: asyncpg.Connection, query: CustomerQuery) -> list[asyncpg.Record]:
    """Searching has two good plans: walk the sort order and filter (fast when matches are
    common), or collect the matches by trigram and sort them (fast when they are rare). Which
    one wins is not knowable up front, so the walk gets a small budget and the trigram plan
    runs when it is spent. Custom plans: a generic plan cannot see the pattern at all."""
    async with conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        sql, args = build_list_sql(query)
        if not query.q or len(query.q) < 3:
            return await conn.fetch(sql, *args)
        await conn.execute(f"SET LOCAL statement_timeout = '{SORTED_WALK_BUDGET}'")
        try:
            async with conn.transaction():
                return await conn.fetch(sql, *args)
        except asyncpg.QueryCanceledError:
            pass
        await conn.execute("SET LOCAL statement_timeout = 0")
        sql, args = build_list_sql(query, matches_first=True)
        return await conn.fetch(sql, *args)


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
        f"""SELECT {LINKED} AS linked, coalesce(f.overdue, false) AS overdue,
                   coalesce(f.credit_limit_exceeded, false) AS credit_limit_exceeded
              FROM customers c
              LEFT JOIN billing_flags f
                ON f.tenant_id = c.tenant_id AND f.customer_id = c.customer_id::text
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
