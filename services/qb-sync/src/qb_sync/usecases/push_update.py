"""Updating a linked QuickBooks customer: a sparse body of the fields the platform changed since
the last reconcile (`platform_content`) whose value QuickBooks (`pushed_content`) does not hold
yet, on the stored SyncToken. Each body is recorded as in doubt before it goes out
(store/push/in_doubt.py); after an attempt whose answer never came, QuickBooks is re-read first
and the fields of that body are compared with it again, so a change reverted on the platform
meanwhile is sent back, and qb-sync's own write is never taken for a QuickBooks user's edit.
On 5010 the customer is re-read and merged three ways (domain/three_way_merge.py), at most
`push_conflict_tries` times. 6240 on a rename is
`needs_link`; 610 (merged away in QuickBooks) is `needs_link` for a person to pick the
survivor, unless the merge is known already.
"""

from __future__ import annotations

import json
from typing import Any

from qb_sync.domain import fields
from qb_sync.domain.outcomes import Outcome
from qb_sync.domain.request_ids import update_request_id
from qb_sync.domain.three_way_merge import still_stale, three_way
from qb_sync.qbo import errors
from qb_sync.store.pull_state import known_survivor
from qb_sync.store.push.in_doubt import mark_in_doubt
from qb_sync.store.push.leases import LeaseLost
from qb_sync.usecases.push_names import taken_because
from qb_sync.usecases.row_push import RowPush

Json = dict[str, Any]


async def update(push: RowPush, wanted: Json, wanted_qb: Json) -> Outcome:
    row = push.row
    assert row.qb_customer_id is not None
    qb_id = row.qb_customer_id
    if row.platform_content is None:  # linked before the platform's data arrived: adopt it
        return Outcome("unchanged", platform=wanted)
    held = row.pushed_content
    token = row.sync_token
    latest: Json | None = None
    # QuickBooks' side unknown (never read, or an update's answer was lost): read it first.
    if held is None or token is None or row.write_in_doubt:
        latest = await push.qbo.get(qb_id)
        if latest is None:
            return await gone(push, qb_id)
        held, token = fields.current(latest), int(latest.get("SyncToken") or 0)
    platform_before = fields.with_doubt(row.platform_content, row.write_in_doubt)
    diff = fields.to_send(platform_before, wanted, held, wanted_qb)
    if not diff:
        return Outcome("unchanged", customer=latest, qb_content=held, platform=wanted)
    tries = push.settings.push_conflict_tries
    for _ in range(max(1, tries)):
        payload = json.dumps(
            {"Id": qb_id, "SyncToken": str(token), "sparse": True, **diff}, sort_keys=True
        )
        if not await mark_in_doubt(push.pool, row, push.lease.token, diff):
            raise LeaseLost()
        try:
            updated = await push.qbo.update(
                payload, update_request_id(row.realm_id, qb_id, payload)
            )
        except errors.QboFault as exc:
            if exc.code == errors.NOT_FOUND:
                return await gone(push, qb_id)
            if exc.code == errors.DUPLICATE_NAME:
                name = str(diff.get("DisplayName") or wanted.get("DisplayName"))
                taken = await taken_because(push, name, exclude=qb_id)
                taken.message = f"renaming QuickBooks customer {qb_id}: {taken.message}"
                return taken
            if exc.code != errors.STALE_OBJECT:
                raise
            latest = await push.qbo.get(qb_id)
            if latest is None:
                return await gone(push, qb_id)
            theirs = fields.current(latest)
            merged = three_way(held, wanted_qb, diff, theirs, latest)
            if isinstance(merged, Outcome):
                return merged
            held, token, diff = theirs, int(latest.get("SyncToken") or 0), merged
            if not diff:
                return Outcome("updated", customer=latest, qb_content=held, platform=wanted)
            continue
        return Outcome(
            "updated", customer=updated, qb_content=fields.current(updated), platform=wanted
        )
    return still_stale(held, wanted_qb, diff, latest, tries)


async def gone(push: RowPush, qb_id: str) -> Outcome:
    """610: QuickBooks customers are never deleted, so it was merged into another one."""
    row = push.row
    survivor = await known_survivor(push.pool, row.tenant_id, row.realm_id, qb_id)
    if survivor is not None:  # the pull side moves the link to the survivor shortly
        return Outcome(
            "wait", code="merged", message=f"{qb_id} was merged into {survivor}", delay=2.0
        )
    return Outcome(
        "needs_link",
        code="merged",
        message=(
            f"QuickBooks customer {qb_id} no longer exists (merged into another customer); "
            "link the customer it went into"
        ),
        merged_away=qb_id,
    )
