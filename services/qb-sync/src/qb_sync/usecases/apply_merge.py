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

from platform_events.contracts.quickbooks import QuickBooksCustomerLinked, QuickBooksSyncFailed
from qb_sync.qbo.customer_reads import read_customer
from qb_sync.qbo.errors import QboFault
from qb_sync.qbo.gateway import QboGateway
from qb_sync.store.known_customers import publish_merged_away
from qb_sync.store.mirror import publish_mirror
from qb_sync.store.pull_state import Merge, mark_merge_applied
from qb_sync.store.push.merges import mark_merged, move_to_survivor, rows_on
from qb_sync.store.push.rows import owner_of
from qb_sync.store.sync_reports import report

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


async def remap_after_merge(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, merge: Merge, survivor_token: int
) -> int:
    """Move qb-sync's push rows from the merged-away id to the survivor and tell the customer
    service (`QuickBooksCustomerLinked(how="merged")`). When the survivor is already linked to
    another platform customer, nothing is stolen: the row becomes `needs_link` with the survivor
    as candidate and a `QuickBooksSyncFailed` says why. When the survivor is not known (the
    merge was seen in CDC, which names none), the row becomes `needs_link` for a person to
    choose, keeping the dead id so a later notification naming the survivor still moves it. A
    row a push worker holds loses its lease (the worker's outcome, about the dead id, is
    dropped) and is pushed again. Returns rows moved."""
    rows = await rows_on(conn, tenant_id, realm_id, merge.merged_id)
    if not rows:
        return 0
    survivor = merge.surviving_id
    holder = await owner_of(conn, tenant_id, realm_id, survivor) if survivor else None
    moved = 0
    for row in rows:
        customer_id = row["customer_id"]
        data: QuickBooksCustomerLinked | QuickBooksSyncFailed
        if survivor is not None and holder is None and moved == 0:
            busy = bool(row["leased"]) or row["status"] == "pending"
            await move_to_survivor(
                conn, tenant_id, realm_id, customer_id, survivor, survivor_token, busy
            )
            moved += 1
            data = QuickBooksCustomerLinked(
                realm_id=realm_id,
                customer_id=customer_id,
                qb_customer_id=survivor,
                sync_token=survivor_token,
                how="merged",
            )
        else:
            if survivor is None:
                if row["status"] == "needs_link" and row["last_error_code"] == "merged":
                    continue  # already told (a 610 on push, or an earlier CDC pass)
                message = (
                    f"QuickBooks merged customer {merge.merged_id} into another one (change data "
                    "capture does not say which); link the customer it went into"
                )
            else:
                message = (
                    f"QuickBooks merged customer {merge.merged_id} into {survivor}, "
                    "which is linked to another customer"
                )
            await mark_merged(conn, tenant_id, realm_id, customer_id, message, survivor)
            data = QuickBooksSyncFailed(
                realm_id=realm_id,
                customer_id=customer_id,
                status="needs_link",
                error_code="merged",
                error_message=message,
                attempts=1,
                candidate_qb_customer_id=survivor,
            )
        await report(conn, tenant_id, customer_id, [data])
    return moved
