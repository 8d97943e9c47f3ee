"""Per-tenant reference lists, seeded with defaults the first time a tenant is seen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from customer_service.domain.reference import DEFAULT_LISTS, ReferenceList, ReferenceLists

# Tenants this process has seen seeded (committed): skips a round trip on every request.
_seeded: set[str] = set()


@asynccontextmanager
async def seeded_transaction(
    pool: asyncpg.Pool, tenant_id: str
) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a transaction, for a tenant whose lists are seeded first (ensure_seeded)."""
    async with pool.acquire() as conn:
        await ensure_seeded(conn, tenant_id)
        async with conn.transaction():
            yield conn


async def ensure_seeded(conn: asyncpg.Connection, tenant_id: str) -> None:
    """Seeds the tenant's lists in a transaction of their own, committed before the caller's work
    starts. Seeded inside a request's transaction, a request that then failed would roll the seed
    back while this process went on believing the tenant seeded (every create a 422)."""
    if tenant_id in _seeded:
        return
    if conn.is_in_transaction():
        raise RuntimeError("seed the tenant's reference lists before opening a transaction")
    async with conn.transaction():
        first = await conn.fetchval(
            "INSERT INTO seeded_tenants (tenant_id) VALUES ($1) "
            "ON CONFLICT DO NOTHING RETURNING true",
            tenant_id,
        )
        if first:
            rows = [
                (tenant_id, kind, code, code == default)
                for kind, (codes, default) in DEFAULT_LISTS.items()
                for code in codes
            ]
            await conn.executemany(
                "INSERT INTO reference_values (tenant_id, kind, code, is_default) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                rows,
            )
    _seeded.add(tenant_id)


def forget_seeded() -> None:
    _seeded.clear()


async def load_reference_lists(conn: asyncpg.Connection, tenant_id: str) -> ReferenceLists:
    """Inside a transaction only once `ensure_seeded` ran for the tenant (it refuses otherwise)."""
    await ensure_seeded(conn, tenant_id)
    rows = await conn.fetch(
        "SELECT kind, code, is_default FROM reference_values WHERE tenant_id = $1", tenant_id
    )
    return _lists_of(rows)


async def versioned_reference_lists(
    conn: asyncpg.Connection, tenant_id: str
) -> tuple[int, ReferenceLists]:
    """The tenant's lists and their version, read in one statement (one snapshot), so the
    version always describes exactly these lists. Seeds the tenant first when needed."""
    for _ in range(2):
        rows = await conn.fetch(
            """SELECT s.lists_version, r.kind, r.code, r.is_default
                 FROM seeded_tenants s
                 LEFT JOIN reference_values r ON r.tenant_id = s.tenant_id
                WHERE s.tenant_id = $1""",
            tenant_id,
        )
        if rows:
            return rows[0]["lists_version"], _lists_of([r for r in rows if r["kind"] is not None])
        _seeded.discard(tenant_id)  # seeded_tenants lost the row: seed again
        await ensure_seeded(conn, tenant_id)
    raise RuntimeError(f"the reference lists of tenant {tenant_id!r} could not be seeded")


def _lists_of(rows: list[asyncpg.Record]) -> ReferenceLists:
    values: dict[str, set[str]] = {}
    defaults: dict[str, str] = {}
    for row in rows:
        values.setdefault(row["kind"], set()).add(row["code"])
        if row["is_default"]:
            defaults[row["kind"]] = row["code"]
    return ReferenceLists(
        {
            kind: ReferenceList(frozenset(codes), defaults.get(kind))
            for kind, codes in values.items()
        }
    )


async def replace_reference_list(
    conn: asyncpg.Connection, tenant_id: str, kind: str, codes: list[str], default: str | None
) -> None:
    """The caller ran `ensure_seeded` first, so the seed never lands on top of this list later."""
    await ensure_seeded(conn, tenant_id)
    # Tells every process that keeps the lists in memory that they changed (versioned_...).
    await conn.execute(
        "UPDATE seeded_tenants SET lists_version = lists_version + 1 WHERE tenant_id = $1",
        tenant_id,
    )
    await conn.execute(
        "DELETE FROM reference_values WHERE tenant_id = $1 AND kind = $2", tenant_id, kind
    )
    await conn.executemany(
        "INSERT INTO reference_values (tenant_id, kind, code, is_default) VALUES ($1, $2, $3, $4)",
        [(tenant_id, kind, code, code == default) for code in dict.fromkeys(codes)],
    )
