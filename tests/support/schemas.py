"""Per-test PostgreSQL schemas: each test gets its own, migrated, and drops it afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from platform_kit.db import Migration, apply_migrations, create_pool


@asynccontextmanager
async def migrated_schema(
    database_url: str, prefix: str, migrations: list[Migration]
) -> AsyncIterator[str]:
    """A fresh schema named `prefix` + a random tag with `migrations` applied; dropped on exit."""
    schema = f"{prefix}{uuid.uuid4().hex[:10]}"
    pool = await create_pool(database_url, schema, min_size=1, max_size=2)
    try:
        await apply_migrations(pool, schema, migrations)
    finally:
        await pool.close()
    try:
        yield schema
    finally:
        await drop_schema(database_url, schema)


async def drop_schema(database_url: str, schema: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
