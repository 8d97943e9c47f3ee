"""Sparse updates of many linked rows in batches (see push_batch.py).

Only a row whose QuickBooks side is known (pushed_content and SyncToken stored) and that has
something to send goes in a batch; anything needing a read first takes the single path. Item
answers are handled like the single path's (push_update.py): 5010 stale SyncToken re-decides
through the single path (re-read, three-way merge, at most `push_conflict_tries`), 6240 on a
rename says what holds the name, 610 is a merge in QuickBooks. An update whose answer is lost
is retried like a timed-out single update: its body was recorded as in doubt before it went out
(store/push/in_doubt.py), so the next push re-reads QuickBooks before deciding what to send.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from qb_sync.domain import fields
from qb_sync.domain.outcomes import Outcome
from qb_sync.domain.request_ids import update_request_id
from qb_sync.qbo import errors
from qb_sync.qbo.batch_calls import BatchItem
from qb_sync.store.push.in_doubt import mark_in_doubt
from qb_sync.usecases.push_batch_send import LOST_ANSWER, BatchSender, fault_of
from qb_sync.usecases.push_names import taken_because
from qb_sync.usecases.push_update import gone, update
from qb_sync.usecases.row_push import RowPush

Json = dict[str, Any]
log = logging.getLogger(__name__)


@dataclass
class SparseUpdate:
    push: RowPush
    wanted: Json
    wanted_qb: Json
    diff: Json
    payload: str


def sparse_update(push: RowPush, wanted: Json, wanted_qb: Json) -> SparseUpdate | None:
    """The row's update as a batch item, or None when it needs the single path."""
    row = push.row
    if row.qb_customer_id is None or row.platform_content is None:
        return None
    if row.pushed_content is None or row.sync_token is None or row.write_in_doubt:
        return None  # QuickBooks' side unknown (or an earlier answer lost): read first, alone
    diff = fields.to_send(row.platform_content, wanted, row.pushed_content, wanted_qb)
    if not diff:
        return None
    body = {"Id": row.qb_customer_id, "SyncToken": str(row.sync_token), "sparse": True, **diff}
    return SparseUpdate(push, wanted, wanted_qb, diff, json.dumps(body, sort_keys=True))


@dataclass
class BatchUpdates:
    sender: BatchSender

    async def run(self, updates: list[SparseUpdate], size: int) -> None:
        for start in range(0, len(updates), size):
            await self._send(updates[start : start + size])

    async def _send(self, updates: list[SparseUpdate]) -> None:
        pusher = self.sender.pusher
        # Each body is recorded as in doubt before it goes out (as on the single path): if no
        # answer ever comes, the next push re-reads QuickBooks before deciding.
        marked: list[SparseUpdate] = []
        for u in updates:
            if not u.push.lease.lost and await mark_in_doubt(
                u.push.pool, u.push.row, u.push.lease.token, u.diff
            ):
                marked.append(u)
            else:
                await self.sender.conclude(u.push, Outcome("lost"))
        updates = marked
        if not updates:
            return
        items = [BatchItem(f"u{i}", "update", u.payload) for i, u in enumerate(updates)]
        pushes = [u.push for u in updates]
        request_ids = [
            update_request_id(u.push.row.realm_id, str(u.push.row.qb_customer_id), u.payload)
            for u in updates
        ]
        try:
            answers = await self.sender.send(pushes, items, request_ids)
        except errors.TooLarge:
            # Nothing applied (the bodies stay marked in doubt, harmlessly): halves, then alone.
            log.warning("update batch too large, split", extra={"fields": {"items": len(items)}})
            if len(updates) == 1:
                await pusher.push(updates[0].push.row, updates[0].push.lease)
                return
            middle = len(updates) // 2
            await self._send(updates[:middle])
            await self._send(updates[middle:])
            return
        except errors.QboFault as exc:
            log.warning("update batch refused, one by one", extra={"fields": {"error": str(exc)}})
            for u in updates:
                await pusher.push(u.push.row, u.push.lease)
            return
        except errors.QboError as exc:
            await self.sender.conclude_all(pushes, pusher.outcome_of_error(exc))
            return
        for item, u in zip(items, updates, strict=True):
            answer = None if answers is None else answers.get(item.bid)
            try:
                outcome = await self._answered(u, answer)
            except errors.QboError as exc:
                outcome = pusher.outcome_of_error(exc)
            await self.sender.conclude(u.push, outcome)

    async def _answered(self, u: SparseUpdate, answer: Json | None) -> Outcome:
        if answer is not None and answer.get("Customer"):
            updated = answer["Customer"]
            return Outcome(
                "updated", customer=updated, qb_content=fields.current(updated), platform=u.wanted
            )
        fault = fault_of(answer)
        if fault is None:  # lost: retried with the stored SyncToken (5010 if it was applied)
            return Outcome("retry", code=LOST_ANSWER, message="the update's answer was lost")
        qb_id = str(u.push.row.qb_customer_id)
        if fault.code == errors.STALE_OBJECT:
            return await update(u.push, u.wanted, u.wanted_qb)  # re-read, merge, send
        if fault.code == errors.NOT_FOUND:
            return await gone(u.push, qb_id)
        if fault.code == errors.DUPLICATE_NAME:
            name = str(u.diff.get("DisplayName") or u.wanted.get("DisplayName"))
            taken = await taken_because(u.push, name, exclude=qb_id)
            taken.message = f"renaming QuickBooks customer {qb_id}: {taken.message}"
            return taken
        return Outcome(
            "failed", code=str(fault.code), message=f"{fault.message} {fault.detail}"[:500]
        )
