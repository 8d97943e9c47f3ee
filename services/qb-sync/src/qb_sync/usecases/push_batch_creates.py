"""Creates of many rows: one bulk find, then batches of creates (see push_batch.py).

Every create here is frozen before anything is sent (push_create.freeze), so a row whose batch
answer is lost, or whose worker was killed mid-batch, is found by name before it is ever sent
again."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from qb_sync.domain.outcomes import Outcome, linked
from qb_sync.qbo import errors
from qb_sync.qbo.batch_calls import BatchItem
from qb_sync.qbo.batch_finds import FoundCustomers, find_customers
from qb_sync.qbo.customer_calls import CustomerCalls
from qb_sync.usecases.push_batch_send import AllLeases, BatchSender, fault_of, lost
from qb_sync.usecases.push_create import refused
from qb_sync.usecases.push_names import NamesSent, match_existing
from qb_sync.usecases.row_push import RowPush

Json = dict[str, Any]
log = logging.getLogger(__name__)


@dataclass
class FrozenCreate:
    """A row whose create is frozen and about to be found or sent."""

    push: RowPush
    wanted: Json
    wanted_qb: Json
    payload: str
    names_sent: NamesSent


@dataclass
class BatchCreates:
    sender: BatchSender

    async def run(self, creates: list[FrozenCreate], size: int) -> None:
        unmatched = await self.link_existing(creates, after_lost_answer=False)
        for start in range(0, len(unmatched), size):
            await self._send(unmatched[start : start + size])

    async def link_existing(
        self, creates: list[FrozenCreate], *, after_lost_answer: bool
    ) -> list[FrozenCreate]:
        """Find every name at once; conclude the rows whose customer exists (linked, or why
        not). Returns the rows with nothing found; after a lost answer those wait instead."""
        if not creates:
            return []
        pusher, settings = self.sender.pusher, self.sender.pusher.settings
        row = creates[0].push.row
        calls = CustomerCalls(
            pusher.gateway, row.tenant_id, row.realm_id, AllLeases([c.push.lease for c in creates])
        )
        known = [n for c in creates for n in c.names_sent.sent]
        try:
            found = await find_customers(
                calls, known, settings.qbo_find_names_per_query, settings.qbo_query_max_chars
            )
        except errors.QboError as exc:
            await self.sender.conclude_all([c.push for c in creates], pusher.outcome_of_error(exc))
            return []
        unmatched: list[FrozenCreate] = []
        for c in creates:
            row_push = dataclasses.replace(c.push, qbo=FoundCustomers(c.push.qbo, known, found))
            try:
                matched = await match_existing(row_push, c.names_sent, c.wanted, c.wanted_qb)
            except errors.QboError as exc:
                await self.sender.conclude(c.push, pusher.outcome_of_error(exc))
                continue
            if matched is not None:
                matched.unfreeze = matched.kind != "linked"
                await self.sender.conclude(c.push, matched)
            elif after_lost_answer:
                await self.sender.conclude(
                    c.push,
                    lost(
                        "the batch's answer was lost and the customer is not in QuickBooks: "
                        "found again before it is sent again"
                    ),
                )
            else:
                unmatched.append(c)
        return unmatched

    async def _send(self, creates: list[FrozenCreate]) -> None:
        creates = [c for c in creates if not c.push.lease.lost]
        if not creates:
            return
        pusher = self.sender.pusher
        items = [BatchItem(f"c{i}", "create", c.payload) for i, c in enumerate(creates)]
        pushes = [c.push for c in creates]
        try:
            answers = await self.sender.send(
                pushes, items, [c.push.row.create_request_id for c in creates]
            )
        except errors.TooLarge:
            # Nothing applied; QuickBooks' front end takes smaller bodies: halves, then alone.
            log.warning("create batch too large, split", extra={"fields": {"items": len(items)}})
            if len(creates) == 1:
                await pusher.push(creates[0].push.row, creates[0].push.lease)
                return
            middle = len(creates) // 2
            await self._send(creates[:middle])
            await self._send(creates[middle:])
            return
        except errors.QboFault as exc:
            # Refused whole (nothing applied): each row goes on its own.
            log.warning("create batch refused, one by one", extra={"fields": {"error": str(exc)}})
            for c in creates:
                await pusher.push(c.push.row, c.push.lease)
            return
        except errors.QboError as exc:  # throttled past retries, lease ending: none applied
            await self.sender.conclude_all(pushes, pusher.outcome_of_error(exc))
            return
        if answers is None:
            log.warning("create batch answer lost, finding what was applied")
            await self.link_existing(creates, after_lost_answer=True)
            return
        for item, c in zip(items, creates, strict=True):
            await self.sender.conclude(c.push, await self._answered(c, answers.get(item.bid)))

    async def _answered(self, c: FrozenCreate, answer: Json | None) -> Outcome:
        if answer is not None and answer.get("Customer"):
            return linked(answer["Customer"], "created", c.wanted, c.wanted_qb)
        fault = fault_of(answer)
        if fault is None:  # no answer for this item: applied or not is unknown
            return lost("no answer for this item of the batch")
        try:
            return await refused(c.push, c.names_sent, c.wanted, c.wanted_qb, fault)
        except errors.QboError as exc:
            return self.sender.pusher.outcome_of_error(exc)
