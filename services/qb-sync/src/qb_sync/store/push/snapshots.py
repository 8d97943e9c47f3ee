"""Platform customer snapshots (`push_customers`): the newest version of each customer qb-sync
has seen on customer.events, what a push sends."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

Json = dict[str, Any]


async def save_snapshot(conn: asyncpg.Connection, tenant_id: str, snapshot: Json) -> bool:
    """Keep the newest version only; False when this one is not newer (redelivery, reorder)."""
    stored = await conn.fetchval(
        """INSERT INTO push_customers (tenant_id, customer_id, version, snapshot)
           VALUES ($1, $2, $3, $4::jsonb)
           ON CONFLICT (tenant_id, customer_id) DO UPDATE
              SET version = EXCLUDED.version, snapshot = EXCLUDED.snapshot, updated_at = now()
            WHERE push_customers.version < EXCLUDED.version
           RETURNING true""",
        tenant_id,
        snapshot["customer_id"],
        int(snapshot["version"]),
        json.dumps(snapshot),
    )
    return bool(stored)


async def save_snapshots(
    conn: asyncpg.Connection, items: list[tuple[str, Json]]
) -> list[tuple[str, Json]]:
    """Bulk `save_snapshot`: the newest version per customer, stored when newer than what is
    kept. Returns the (tenant, snapshot) pairs actually stored."""
    newest: dict[tuple[str, str], Json] = {}
    for tenant_id, snapshot in items:
        key = (tenant_id, str(snapshot["customer_id"]))
        if key not in newest or int(newest[key]["version"]) < int(snapshot["version"]):
            newest[key] = snapshot
    rows = await conn.fetch(
        """INSERT INTO push_customers (tenant_id, customer_id, version, snapshot)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::jsonb[])
           ON CONFLICT (tenant_id, customer_id) DO UPDATE
              SET version = EXCLUDED.version, snapshot = EXCLUDED.snapshot, updated_at = now()
            WHERE push_customers.version < EXCLUDED.version
           RETURNING tenant_id, customer_id""",
        [k[0] for k in newest],
        [k[1] for k in newest],
        [int(v["version"]) for v in newest.values()],
        [json.dumps(v) for v in newest.values()],
    )
    return [(r["tenant_id"], newest[(r["tenant_id"], r["customer_id"])]) for r in rows]


async def load_snapshot(conn: Any, tenant_id: str, customer_id: str) -> Json | None:
    raw = await conn.fetchval(
        "SELECT snapshot FROM push_customers WHERE tenant_id = $1 AND customer_id = $2",
        tenant_id,
        customer_id,
    )
    if raw is None:
        return None
    return json.loads(raw) if isinstance(raw, str) else dict(raw)
