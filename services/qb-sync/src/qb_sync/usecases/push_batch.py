"""Pushing many leased rows of one company together: finds in bulk, creates in batches.

For each row, as on the single path (push_row.py, push_create.py): load the platform's values,
wait for the parent, and freeze the create (its exact body stored with the row and its name
claimed) BEFORE anything is sent. A frozen row is "maybe created": whatever happens next (an
answer lost, qb-sync killed mid-batch), its next attempt, single or batch, finds by name before
it creates, and QuickBooks' unique display names turn any blind re-send into a 6240, never a
second customer.

Then:
1. one bulk find (batch_finds.py) for every name the rows' creates went out with; a row whose
   customer exists is linked (or `needs_link`) exactly as on the single path;
2. the rest go in batches of at most 30 creates (batch_calls.py), paced per company at the batch
   limit; items fail one by one: a created customer links its row, 6240 links or says why the
   name is taken (push_names.name_taken), any other fault fails the row with QuickBooks' reason;
3. a batch whose answer is lost is never re-sent: a bulk find says which creates were applied
   (linked now); the others wait, frozen, for their next attempt (find first again).
Rows that are updates, or too few creates for a batch, take the single path side by side.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from qb_sync.domain.outcomes import Outcome, linked
from qb_sync.qbo import errors
from qb_sync.qbo.batch_calls import BatchCalls, CreateItem
from qb_sync.qbo.batch_finds import FoundCustomers, find_customers
from qb_sync.qbo.batch_limits import BatchLimits
from qb_sync.qbo.customer_calls import CustomerCalls
from qb_sync.store.push.leases import LeaseLost
from qb_sync.store.push.rows import Mapping
from qb_sync.usecases.push_create import freeze, refused
from qb_sync.usecases.push_lease import PushLease, held
from qb_sync.usecases.push_names import NamesSent, match_existing
from qb_sync.usecases.push_row import Pusher
from qb_sync.usecases.row_push import RowPush

Json = dict[str, Any]
log = logging.getLogger(__name__)

LOST_ANSWER = "batch_answer_lost"
# Names requestids of batches (uuid5 of the items' create requestids: the same creates, the same id).
_BATCH_NAMESPACE = uuid.UUID("0b7c4c52-5f0e-4d43-9a4f-6f0a3f1c2b15")


@dataclass
class FrozenCreate:
    """A row whose create is frozen and about to be found or sent."""

    push: RowPush
    wanted: Json
    wanted_qb: Json
    payload: str
    names_sent: NamesSent


class AllLeases:
    """The lease a batch request goes out under: every row's must still cover the attempt."""

    def __init__(self, leases: Sequence[PushLease]) -> None:
        self.leases = leases

    async def allows(self, seconds: float) -> bool:
        for lease in self.leases:
            if not await lease.allows(seconds):
                return False
        return True


def batch_request_id(request_ids: Sequence[str]) -> str:
    """36 characters, derived from the creates the batch carries."""
    return str(uuid.uuid5(_BATCH_NAMESPACE, "\n".join(sorted(request_ids))))


class BatchPusher:
    def __init__(self, pusher: Pusher) -> None:
        self.pusher = pusher
        self.settings = pusher.settings
        self.limits = BatchLimits(self.settings.qbo_batch_per_minute)

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
            creates = [s for s in started if isinstance(s, FrozenCreate)]
            singles = [lease for lease, s in zip(leases, started, strict=True) if s is None]
            if len(creates) < self.settings.push_batch_min_rows:
                singles += [c.push.lease for c in creates]  # too few: one by one
                creates = []
            for lease, s in zip(leases, started, strict=True):
                if isinstance(s, Outcome):
                    await self.pusher.conclude(lease.row, lease.token, s)
            await asyncio.gather(
                self._creates(creates),
                *(self.pusher.push(lease.row, lease) for lease in singles),
            )

    async def _start(self, lease: PushLease) -> FrozenCreate | Outcome | None:
        """The row's frozen create, or its outcome already, or None: push it on its own."""
        try:
            begun = await self.pusher.begin(lease.row, lease)
            if isinstance(begun, Outcome):
                return begun
            push, snapshot, wanted, wanted_qb = begun
            if lease.row.qb_customer_id is not None:
                return None  # an update
            frozen = await freeze(push, snapshot, wanted, wanted_qb)
        except LeaseLost:
            return Outcome("lost")
        except errors.QboError as exc:
            return self.pusher.outcome_of_error(exc)
        if isinstance(frozen, Outcome):
            return frozen
        payload, names_sent = frozen
        return FrozenCreate(push, wanted, wanted_qb, payload, names_sent)

    async def _creates(self, creates: list[FrozenCreate]) -> None:
        if not creates:
            return
        unmatched = await self._link_existing(creates, lost=False)
        size = max(1, min(self.settings.push_batch_items, 30))
        for start in range(0, len(unmatched), size):
            await self._send(unmatched[start : start + size])

    async def _link_existing(
        self, creates: list[FrozenCreate], *, lost: bool
    ) -> list[FrozenCreate]:
        """Find every name at once; conclude the rows whose customer exists (linked or why not).
        Returns the rows with nothing found. After a lost answer (`lost`) those wait instead."""
        calls = self._calls(creates)
        known = [n for c in creates for n in c.names_sent.sent]
        try:
            found = await find_customers(
                calls,
                known,
                self.settings.qbo_find_names_per_query,
                self.settings.qbo_query_max_chars,
            )
        except errors.QboError as exc:
            await self._conclude_all(creates, self.pusher.outcome_of_error(exc))
            return []
        unmatched: list[FrozenCreate] = []
        for c in creates:
            row_push = dataclasses.replace(c.push, qbo=FoundCustomers(c.push.qbo, known, found))
            try:
                matched = await match_existing(row_push, c.names_sent, c.wanted, c.wanted_qb)
            except errors.QboError as exc:
                await self._conclude(c, self.pusher.outcome_of_error(exc))
                continue
            if matched is not None:
                matched.unfreeze = matched.kind != "linked"
                await self._conclude(c, matched)
            elif lost:
                await self._conclude(
                    c,
                    Outcome(
                        "wait",
                        code=LOST_ANSWER,
                        message="the batch's answer was lost and the customer is not in "
                        "QuickBooks yet: found again before it is sent again",
                        delay=1.0,
                    ),
                )
            else:
                unmatched.append(c)
        return unmatched

    async def _send(self, creates: list[FrozenCreate]) -> None:
        creates = [c for c in creates if not c.push.lease.lost]
        if not creates:
            return
        items = [CreateItem(f"c{i}", c.payload) for i, c in enumerate(creates)]
        request_id = batch_request_id([c.push.row.create_request_id for c in creates])
        batch = BatchCalls(
            self.pusher.gateway,
            self.limits,
            creates[0].push.row.tenant_id,
            creates[0].push.row.realm_id,
            AllLeases([c.push.lease for c in creates]),
            counts_items=self.settings.qbo_batch_counts_items,
        )
        try:
            answers = await batch.create(items, request_id)
        except errors.QboFault as exc:
            # The whole batch was refused (nothing applied): each row goes on its own.
            log.warning(
                "batch refused, pushing its rows one by one", extra={"fields": {"error": str(exc)}}
            )
            await asyncio.gather(*(self.pusher.push(c.push.row, c.push.lease) for c in creates))
            return
        except errors.QboError as exc:  # throttled past retries, lease ending, auth: none applied
            await self._conclude_all(creates, self.pusher.outcome_of_error(exc))
            return
        if answers is None:
            log.warning(
                "batch answer lost, finding what was applied",
                extra={"fields": {"realm_id": batch.realm_id, "request_id": request_id}},
            )
            await self._link_existing(creates, lost=True)
            return
        for item, c in zip(items, creates, strict=True):
            await self._conclude(c, await self._answered(c, answers.get(item.bid)))

    async def _answered(self, c: FrozenCreate, answer: Json | None) -> Outcome:
        if answer is not None and answer.get("Customer"):
            return linked(answer["Customer"], "created", c.wanted, c.wanted_qb)
        fault = (answer or {}).get("Fault")
        if not fault:
            # No answer for this item: applied or not is unknown, like a lost batch.
            return Outcome("wait", code=LOST_ANSWER, message="no answer for this item", delay=1.0)
        error = (fault.get("Error") or [{}])[0]
        exc = errors.QboFault(
            int(error.get("code") or 0),
            str(error.get("Message") or ""),
            str(error.get("Detail") or ""),
        )
        try:
            return await refused(c.push, c.names_sent, c.wanted, c.wanted_qb, exc)
        except errors.QboError as lookup:
            return self.pusher.outcome_of_error(lookup)

    def _calls(self, creates: list[FrozenCreate]) -> CustomerCalls:
        row = creates[0].push.row
        return CustomerCalls(
            self.pusher.gateway,
            row.tenant_id,
            row.realm_id,
            AllLeases([c.push.lease for c in creates]),
        )

    async def _conclude(self, c: FrozenCreate, outcome: Outcome) -> None:
        await self.pusher.conclude(c.push.row, c.push.lease.token, outcome)

    async def _conclude_all(self, creates: list[FrozenCreate], outcome: Outcome) -> None:
        for c in creates:
            await self._conclude(c, dataclasses.replace(outcome))
