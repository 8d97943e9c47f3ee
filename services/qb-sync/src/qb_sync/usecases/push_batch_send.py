"""What the create and update batches share: the lease a batch goes out under, its requestid,
sending it, and writing each row's outcome."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qb_sync.domain.outcomes import Outcome
from qb_sync.qbo import errors
from qb_sync.qbo.batch_calls import BatchCalls, BatchItem
from qb_sync.qbo.batch_limits import BatchLimits
from qb_sync.usecases.push_lease import PushLease
from qb_sync.usecases.push_row import Pusher
from qb_sync.usecases.row_push import RowPush

Json = dict[str, Any]

LOST_ANSWER = "batch_answer_lost"
# Names batch requestids (uuid5 of the items' requestids: the same writes, the same id).
_BATCH_NAMESPACE = uuid.UUID("0b7c4c52-5f0e-4d43-9a4f-6f0a3f1c2b15")


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
    """36 characters, derived from the writes the batch carries."""
    return str(uuid.uuid5(_BATCH_NAMESPACE, "\n".join(sorted(request_ids))))


def fault_of(answer: Json | None) -> errors.QboFault | None:
    """An item's Fault as the single path sees one (None when it has none)."""
    fault = (answer or {}).get("Fault")
    if not fault:
        return None
    error = (fault.get("Error") or [{}])[0]
    return errors.QboFault(
        int(error.get("code") or 0), str(error.get("Message") or ""), str(error.get("Detail") or "")
    )


@dataclass
class BatchSender:
    pusher: Pusher
    limits: BatchLimits

    async def send(
        self, pushes: Sequence[RowPush], items: Sequence[BatchItem], request_ids: Sequence[str]
    ) -> dict[str, Json] | None:
        """Each item's answer by bId, or None when the answer was lost (raises QboError when
        nothing was applied: throttled past retries, refused whole, lease ending)."""
        row = pushes[0].row
        batch = BatchCalls(
            self.pusher.gateway,
            self.limits,
            row.tenant_id,
            row.realm_id,
            AllLeases([p.lease for p in pushes]),
            counts_items=self.pusher.settings.qbo_batch_counts_items,
        )
        return await batch.send(items, batch_request_id(request_ids))

    async def conclude(self, push: RowPush, outcome: Outcome) -> None:
        await self.pusher.conclude(push.row, push.lease.token, outcome)

    async def conclude_all(self, pushes: Sequence[RowPush], outcome: Outcome) -> None:
        for push in pushes:
            await self.conclude(push, dataclasses.replace(outcome))


def lost(message: str) -> Outcome:
    return Outcome("wait", code=LOST_ANSWER, message=message, delay=1.0)
