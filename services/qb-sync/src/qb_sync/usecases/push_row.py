"""Pushing one leased row to QuickBooks: load the platform's values, wait for the parent if
there is one, then create (push_create.py) or update (push_update.py), and write the outcome
(write_outcome.py). Every QuickBooks error becomes an outcome here, so a row always ends in a
state: retried, waiting, or in front of a person. docs/decisions/0012-qbsync-push.md has the why.

Sub-customers wait for their parent's QuickBooks id (queueing the parent if it has no row); a
parent that failed or needs a person makes the child's attempts count, so it ends `failed`
rather than waiting forever.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
from prometheus_client import Counter

from qb_sync.domain import fields
from qb_sync.domain.outcomes import PARENT_NOT_SYNCED, WAITING_FOR_CUSTOMER, Outcome, linked
from qb_sync.qbo import errors
from qb_sync.qbo.customer_calls import CustomerCalls
from qb_sync.qbo.gateway import QboGateway
from qb_sync.settings import Settings
from qb_sync.store.push.intent import ensure_parent_pending
from qb_sync.store.push.leases import LeaseLost
from qb_sync.store.push.rows import Mapping, get_mapping
from qb_sync.store.push.snapshots import load_snapshot
from qb_sync.usecases.push_create import create
from qb_sync.usecases.push_lease import PushLease
from qb_sync.usecases.push_update import update
from qb_sync.usecases.row_push import RowPush
from qb_sync.usecases.write_outcome import OutcomeWriter

Json = dict[str, Any]
log = logging.getLogger(__name__)

PUSH_OUTCOMES = Counter(
    "qbsync_push_outcomes_total",
    "Push attempts by outcome (linked, updated, unchanged, needs_link, conflict, wait, retry, "
    "failed, lost)",
    ["outcome"],
)


class Pusher:
    def __init__(self, pool: asyncpg.Pool, gateway: QboGateway, settings: Settings) -> None:
        self.pool = pool
        self.gateway = gateway
        self.settings = settings
        self.outcomes = OutcomeWriter(pool, settings)

    async def push(self, row: Mapping, lease: PushLease) -> Outcome:
        try:
            outcome = await self._push(row, lease)
        except LeaseLost:
            outcome = Outcome("lost")
        except errors.QboError as exc:
            outcome = self.outcome_of_error(exc)
        await self.conclude(row, lease.token, outcome)
        return outcome

    async def conclude(self, row: Mapping, token: uuid.UUID, outcome: Outcome) -> None:
        """Count and log the attempt's outcome, then write it (unless the lease was lost)."""
        PUSH_OUTCOMES.labels(outcome.kind).inc()
        log.info(
            "push outcome",
            extra={
                "fields": {
                    "realm_id": row.realm_id,
                    "customer_id": row.customer_id,
                    "outcome": outcome.kind,
                    "qb_customer_id": (outcome.customer or {}).get("Id") or row.qb_customer_id,
                    "request_id": row.create_request_id,
                    "error_code": outcome.code,
                }
            },
        )
        if outcome.kind != "lost":
            await self.finish(row, token, outcome)

    def outcome_of_error(self, exc: errors.QboError) -> Outcome:
        message = str(exc)[:500]
        if isinstance(exc, errors.LeaseEnding):
            return Outcome("wait", code="lease", message=message)
        if isinstance(exc, errors.Throttled):
            return Outcome(
                "retry", code="429", message=message, delay=self.settings.qbo_throttle_wait_seconds
            )
        if isinstance(exc, errors.Transient | errors.AuthExpired):
            return Outcome("retry", code=type(exc).__name__.lower(), message=message)
        if isinstance(exc, errors.ReauthRequired):
            # The company must be reconnected: the row waits, pending, and resumes after that
            # (rows of a company that is not connected are not leased meanwhile).
            return Outcome("wait", code="reauth_required", message=message, delay=5.0)
        if not isinstance(exc, errors.QboFault):
            raise exc
        return Outcome("failed", code=str(exc.code), message=f"{exc.message} {exc.detail}"[:500])

    async def finish(self, row: Mapping, token: uuid.UUID, outcome: Outcome) -> None:
        """Write `outcome` if the row is still leased under `token` (else it is dropped)."""
        await self.outcomes.finish(row, token, outcome)

    async def _push(self, row: Mapping, lease: PushLease) -> Outcome:
        begun = await self.begin(row, lease)
        if isinstance(begun, Outcome):
            return begun
        push, snapshot, wanted, wanted_qb = begun
        if row.qb_customer_id is None:
            return await create(push, snapshot, wanted, wanted_qb)
        return await update(push, wanted, wanted_qb)

    async def begin(
        self, row: Mapping, lease: PushLease
    ) -> tuple[RowPush, Json, Json, Json] | Outcome:
        """What pushing the row needs (its `RowPush`, snapshot, wanted values, as QuickBooks
        values), or why it must wait. The batch path (push_batch.py) starts rows here too."""
        snapshot = await load_snapshot(self.pool, row.tenant_id, row.customer_id)
        if snapshot is None:
            # The mapping came before the customer's events (another topic): the snapshot wakes
            # the row when it arrives, so the waits in between may grow (write_outcome.py).
            return Outcome(
                "wait",
                code=WAITING_FOR_CUSTOMER,
                message="waiting for the customer's data",
                delay=2.0,
            )
        parent_qb_id, waiting = await self._parent(row, snapshot)
        if waiting is not None:
            return waiting
        wanted = fields.desired(snapshot)
        wanted_qb = fields.quickbooks_values(wanted, parent_qb_id)
        calls = CustomerCalls(self.gateway, row.tenant_id, row.realm_id, lease)
        return RowPush(self.pool, row, lease, calls, self.settings), snapshot, wanted, wanted_qb

    async def _parent(self, row: Mapping, snapshot: Json) -> tuple[str | None, Outcome | None]:
        """The QuickBooks id of the customer's parent in this company, or why we must wait."""
        parent_id = snapshot.get("parent_id")
        if not parent_id:
            return None, None
        parent = await get_mapping(self.pool, row.tenant_id, row.realm_id, str(parent_id))
        if parent is None:
            await ensure_parent_pending(
                self.pool, row.tenant_id, row.realm_id, str(parent_id), row.create_request_id
            )
            return None, Outcome("wait", message=f"waiting for parent {parent_id}", delay=0.5)
        if parent.qb_customer_id is not None:
            return parent.qb_customer_id, None
        message = f"waiting for parent {parent_id} ({parent.status})"
        if parent.status == "pending":
            return None, Outcome("wait", message=message, delay=0.5)
        # The parent needs a person (failed, needs_link): count attempts, end failed; the row
        # is woken when the parent is linked.
        return None, Outcome("retry", code=PARENT_NOT_SYNCED, message=message)

    async def linked_by_user(self, row: Mapping, customer: Json) -> Outcome:
        """The user chose this QuickBooks customer for a needs_link row: link it, then push the
        platform's values onto it."""
        snapshot = await load_snapshot(self.pool, row.tenant_id, row.customer_id) or {}
        parent_qb_id, _ = await self._parent(row, snapshot) if snapshot else (None, None)
        wanted = fields.desired(snapshot) if snapshot else {}
        return linked(
            customer, "linked_by_user", wanted, fields.quickbooks_values(wanted, parent_qb_id)
        )
