"""QuickBooks merges: customer X merged into Y (webhook `Merge` with `deletedId`, CloudEvents
`qbo.customer.merged.v1` with `data.deletedid`).

CDC only shows a merged-away customer as a `status: Deleted` stub, without its survivor (and a
push answered 610 knows no more): such a merge is recorded with no survivor; its rows become
`needs_link` until a person links the right customer or a notification names the survivor.

One transaction per merge:
- the survivor is re-read and mirrored (its SyncToken moved);
- the merged-away id is mirrored once more, inactive, with `merged_into_qb_customer_id`, so every
  consumer of `qb.customers` (the customer service's directory and links) sees where it went;
- qb-sync's own mapping rows that pointed at the merged-away id now point at the survivor, and a
  `QuickBooksCustomerLinked(how="merged")` tells the customer service; if the survivor is already
  linked to another platform customer the row is left alone (a person must choose) and reported
  as `needs_link`.
"""

from __future__ import annotations

import logging

import asyncpg

from qb_sync.qbo.customer_reads import read_customer
from qb_sync.qbo.errors import QboFault
from qb_sync.qbo.gateway import QboGateway
from qb_sync.store.known_customers import publish_merged_away, remap_after_merge
from qb_sync.store.mirror import publish_mirror
from qb_sync.store.pull_state import Merge, mark_merge_applied

log = logging.getLogger(__name__)


async def apply_merge(
    pool: asyncpg.Pool, gateway: QboGateway, tenant_id: str, realm_id: str, merge: Merge
) -> None:
    survivor: dict[str, object] = {}
    if merge.surviving_id is not None:
        try:
            survivor = await read_customer(gateway, tenant_id, realm_id, merge.surviving_id)
        except QboFault as fault:
            if fault.code != 610:
                raise
            # merged on again since: the later merge's notification covers it
    async with pool.acquire() as conn, conn.transaction():
        if survivor.get("Id"):
            await publish_mirror(conn, tenant_id, realm_id, survivor)
        await publish_merged_away(conn, tenant_id, realm_id, merge)
        await remap_after_merge(
            conn, tenant_id, realm_id, merge, int(str(survivor.get("SyncToken") or 0))
        )
        await mark_merge_applied(conn, tenant_id, realm_id, merge.merged_id)
    log.info(
        "merge applied",
        extra={"realm_id": realm_id, "merged_id": merge.merged_id, "into": merge.surviving_id},
    )
