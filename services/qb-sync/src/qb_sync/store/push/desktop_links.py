"""Which platform customer a Desktop customer is linked to, for its mirror (store/qbd/mirror.py):
the push row holding its ListID, or the rows still without a QuickBooks customer (a push whose
Add just answered is one of them until its outcome is written)."""

from __future__ import annotations

import asyncpg


async def link_candidates(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, list_id: str, with_unlinked: bool
) -> tuple[str | None, list[str]]:
    """(the customer linked to `list_id`, the customers of rows with no QuickBooks customer yet
    when `with_unlinked`)."""
    rows = await conn.fetch(
        """SELECT customer_id, qb_customer_id FROM push_mappings
            WHERE tenant_id = $1 AND realm_id = $2
              AND (qb_customer_id = $3 OR ($4 AND qb_customer_id IS NULL))""",
        tenant_id,
        realm_id,
        list_id,
        with_unlinked,
    )
    linked = next((str(r["customer_id"]) for r in rows if r["qb_customer_id"] == list_id), None)
    return linked, [str(r["customer_id"]) for r in rows if r["qb_customer_id"] is None]
