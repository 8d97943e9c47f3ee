"""Pushing many leased rows of one company together: finds in bulk, creates and updates in
batches of at most 30 (QuickBooks' batch endpoint, docs/reference/quickbooks-online.md#batch).

Each row starts as on the single path (push_row.Pusher.begin: the platform's values, the parent's
QuickBooks id or a wait). Then:
- creates are frozen (body stored, name claimed) before anything is sent; one bulk find links the
  rows whose customer exists; the rest go in batches; a lost answer is resolved by finding, never
  by sending again (push_batch_creates.py);
- updates whose QuickBooks side is known go in batches of sparse updates; faults per item as on
  the single path (push_batch_updates.py);
- anything else (a read needed first, nothing to send, too few of a kind for a batch) takes the
  single path, side by side.
Every row ends with its outcome written, like a single push.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AsyncExitStack

from qb_sync.domain.outcomes import Outcome
from qb_sync.qbo import errors
from qb_sync.qbo.batch_calls import MAX_ITEMS
from qb_sync.qbo.batch_limits import BatchLimits
from qb_sync.store.push.leases import LeaseLost
from qb_sync.store.push.rows import Mapping
from qb_sync.usecases.push_batch_creates import BatchCreates, FrozenCreate
from qb_sync.usecases.push_batch_send import BatchSender
from qb_sync.usecases.push_batch_updates import BatchUpdates, SparseUpdate, sparse_update
from qb_sync.usecases.push_create import freeze
from qb_sync.usecases.push_lease import PushLease, held
from qb_sync.usecases.push_row import Pusher

Started = FrozenCreate | SparseUpdate | Outcome | None  # None: the single path


class BatchPusher:
    def __init__(self, pusher: Pusher) -> None:
        self.pusher = pusher
        self.settings = pusher.settings
        sender = BatchSender(pusher, BatchLimits(self.settings.qbo_batch_per_minute))
        self.creates = BatchCreates(sender)
        self.updates = BatchUpdates(sender)

    async def push(self, rows: Sequence[Mapping]) -> None:
        """Push `rows` (leased, all of one company); every row ends with an outcome written."""
        async with AsyncExitStack() as stack:
            leases = [
                await stack.enter_async_context(
                    held(self.pusher.pool, row, self.settings.push_lease_seconds)
                )
                for row in rows
            ]
            started = await asyncio.gather(*(self._start(lease) for lease in leases))
            for lease, s in zip(leases, started, strict=True):
                if isinstance(s, Outcome):
                    await self.pusher.conclude(lease.row, lease.token, s)
            creates = [s for s in started if isinstance(s, FrozenCreate)]
            updates = [s for s in started if isinstance(s, SparseUpdate)]
            singles = [lease for lease, s in zip(leases, started, strict=True) if s is None]
            enough = self.settings.push_batch_min_rows
            if len(creates) < enough:
                singles += [c.push.lease for c in creates]
                creates = []
            if len(updates) < enough:
                singles += [u.push.lease for u in updates]
                updates = []
            size = min(self.settings.push_batch_items, MAX_ITEMS)
            await asyncio.gather(
                self.creates.run(creates, size),
                self.updates.run(updates, size),
                *(self.pusher.push(lease.row, lease) for lease in singles),
            )

    async def _start(self, lease: PushLease) -> Started:
        """The row's frozen create or sparse update, its outcome already, or None."""
        try:
            begun = await self.pusher.begin(lease.row, lease)
            if isinstance(begun, Outcome):
                return begun
            push, snapshot, wanted, wanted_qb = begun
            if lease.row.qb_customer_id is not None:
                return sparse_update(push, wanted, wanted_qb)
            frozen = await freeze(push, snapshot, wanted, wanted_qb)
        except LeaseLost:
            return Outcome("lost")
        except errors.QboError as exc:
            return self.pusher.outcome_of_error(exc)
        if isinstance(frozen, Outcome):
            return frozen
        payload, names_sent = frozen
        return FrozenCreate(push, wanted, wanted_qb, payload, names_sent)
