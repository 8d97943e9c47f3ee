"""Writing one push outcome: the row's new state, the mirror of the customer QuickBooks
returned, and `QuickBooksCustomerLinked` / `QuickBooksSyncFailed` for the customer service, in
one transaction, and only while the lease is still ours (a late holder writes nothing)."""

from __future__ import annotations

import logging
import random
import uuid

import asyncpg

from platform_events.contracts.quickbooks import QuickBooksCustomerLinked, QuickBooksSyncFailed
from platform_events.envelope import EventData
from qb_sync.domain.outcomes import (
    WAITING_FOR_CUSTOMER,
    Outcome,
    linked_elsewhere,
    linked_meanwhile,
)
from qb_sync.domain.qbd.records import is_desktop_realm
from qb_sync.domain.request_ids import next_request_id
from qb_sync.settings import Settings
from qb_sync.store.mirror import publish_mirror
from qb_sync.store.pull_state import record_merge
from qb_sync.store.push import outcomes
from qb_sync.store.push.intent import wake_children
from qb_sync.store.push.leases import lock_if_still_ours
from qb_sync.store.push.name_claims import release_claims
from qb_sync.store.push.rows import Mapping, owner_of
from qb_sync.store.qbd.customers import remirror
from qb_sync.store.sync_reports import report

log = logging.getLogger(__name__)

IN_STEP = ("linked", "updated", "unchanged")


class OutcomeWriter:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings

    async def finish(self, row: Mapping, token: uuid.UUID, outcome: Outcome) -> None:
        try:
            await self._finish(row, token, outcome)
        except asyncpg.UniqueViolationError:
            await self._finish(row, token, linked_meanwhile(outcome))

    async def write_in(
        self, conn: asyncpg.Connection, row: Mapping, token: uuid.UUID, outcome: Outcome
    ) -> bool:
        """`finish` inside the caller's transaction (the Desktop push settles its job in the
        same one). False when the lease is no longer `token`'s (nothing written)."""
        record = await lock_if_still_ours(conn, row, token)
        if record is None:
            return False
        try:
            async with conn.transaction():  # a savepoint: the fallback below may still write
                await self._write(conn, row, record, outcome)
        except asyncpg.UniqueViolationError:
            await self._write(conn, row, record, linked_meanwhile(outcome))
        return True

    async def _finish(self, row: Mapping, token: uuid.UUID, outcome: Outcome) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            record = await lock_if_still_ours(conn, row, token)
            if record is None:
                log.info(
                    "lease lost; outcome dropped",
                    extra={"fields": {"customer_id": row.customer_id}},
                )
                return
            await self._write(conn, row, record, outcome)

    async def _write(
        self, conn: asyncpg.Connection, row: Mapping, record: asyncpg.Record, o: Outcome
    ) -> None:
        o = await _unless_linked_elsewhere(conn, row, o)
        if o.customer is not None:
            # The new link rides on the mirror too: its QuickBooksCustomerLinked goes to another
            # topic, and until it arrives the customer service would show the QuickBooks
            # customer as unmapped, free for "create here" (a duplicate platform customer).
            linked = row.customer_id if o.kind == "linked" else None
            desktop = is_desktop_realm(row.realm_id)
            await publish_mirror(
                conn,
                row.tenant_id,
                row.realm_id,
                o.customer,
                linked_customer_id=linked,
                announce=not desktop,
            )
            if desktop:  # announced in the Desktop shape, from what the company file answered
                await remirror(conn, row.realm_id, str(o.customer["Id"]), linked)
        attempts = int(record["attempts"])
        events: list[EventData] = []
        if o.kind in IN_STEP:
            events = await _in_step(conn, row, record, o)
        elif o.kind == "wait":
            await _waiting(conn, row, bool(record["dirty"]), o)
        elif o.kind == "retry" and attempts + 1 < self.settings.push_max_attempts:
            delay = max(o.delay, self._backoff(attempts + 1))
            await outcomes.schedule_retry(conn, row, delay=delay, code=o.code, message=o.message)
        else:  # failed, conflict, needs_link, or retries used up
            events = await _stopped(conn, row, record, o)
        # A row not linked yet is pushed because an event asked for it: the outcome names that
        # event. A linked row's pushes follow the customer's changes, whose ids it keeps none of.
        cause = row.cause_event_id if row.qb_customer_id is None else None
        await report(
            conn,
            row.tenant_id,
            row.customer_id,
            events,
            sequence=o.sync_token or 0,
            causation_id=cause,
        )

    def _backoff(self, attempt: int) -> float:
        ceiling = min(
            self.settings.push_backoff_max_seconds,
            self.settings.push_backoff_base_seconds * 2 ** (attempt - 1),
        )
        return ceiling * (0.5 + random.random() / 2)


async def _unless_linked_elsewhere(conn: asyncpg.Connection, row: Mapping, o: Outcome) -> Outcome:
    """A link to a QuickBooks customer another row holds (linked since we looked) is not made."""
    if o.kind != "linked" or o.customer is None:
        return o
    qb_id = str(o.customer["Id"])
    holder = await owner_of(conn, row.tenant_id, row.realm_id, qb_id)
    if holder is None or holder == row.customer_id:
        return o
    return linked_elsewhere(qb_id, f"QuickBooks customer {qb_id} is linked to customer {holder}")


async def _in_step(
    conn: asyncpg.Connection, row: Mapping, record: asyncpg.Record, o: Outcome
) -> list[EventData]:
    """linked, updated, unchanged. A new link (or one reported failed that works again) is
    told to the customer service."""
    qb_id = str(o.customer["Id"]) if o.kind == "linked" and o.customer else None
    await outcomes.mark_in_step(
        conn,
        row,
        qb_id=qb_id,
        sync_token=o.sync_token,
        qb_content=o.qb_content,
        platform=o.platform,
        more=bool(record["dirty"]) or o.more,
    )
    if o.kind == "linked":
        await release_claims(conn, row.tenant_id, row.realm_id, row.customer_id)
        await wake_children(conn, row.tenant_id, row.realm_id, row.customer_id)
    linked_to = qb_id or (row.qb_customer_id if record["failure_reported"] else None)
    if linked_to is None:
        return []
    return [
        QuickBooksCustomerLinked(
            realm_id=row.realm_id,
            customer_id=row.customer_id,
            qb_customer_id=linked_to,
            sync_token=o.sync_token or row.sync_token or 0,
            how=(o.how or "created") if qb_id else "resynced",
        )
    ]


async def _waiting(conn: asyncpg.Connection, row: Mapping, dirty: bool, o: Outcome) -> None:
    """Waiting for the customer's data again doubles the delay (a customer whose events never
    come costs a poll a minute, not one every two seconds): the snapshot wakes the row when it
    comes, or marks it dirty when it came during this push (then it goes again at once)."""
    for_customer = o.code == WAITING_FOR_CUSTOMER
    await outcomes.mark_waiting(
        conn,
        row,
        delay=0.0 if for_customer and dirty else o.delay,
        code=o.code or "waiting",
        message=o.message,
        doubling=for_customer and not dirty,
    )


async def _stopped(
    conn: asyncpg.Connection, row: Mapping, record: asyncpg.Record, o: Outcome
) -> list[EventData]:
    """failed, conflict, needs_link: a person (or an event) moves the row on from here."""
    status = "failed" if o.kind == "retry" else o.kind
    # QuickBooks answered the frozen create (nothing created): the next one may differ, under a
    # new requestid. Names it went out with stay searched and claimed.
    unfreeze = o.unfreeze and record["create_payload"] is not None
    request_id = record["create_request_id"]
    await outcomes.mark_stopped(
        conn,
        row,
        status=status,
        code=o.code,
        message=o.message,
        candidate=o.candidate,
        conflict=o.conflict,
        sync_token=o.sync_token,
        qb_content=o.qb_content,
        unfreeze=unfreeze,
        create_request_id=next_request_id(request_id) if unfreeze else request_id,
        # Only an outcome that read QuickBooks' values settles an update in doubt.
        answered=o.qb_content is not None,
    )
    if o.merged_away is not None:  # the pull side publishes its end in the mirror
        await record_merge(conn, row.tenant_id, row.realm_id, o.merged_away, None)
    return [
        QuickBooksSyncFailed(
            realm_id=row.realm_id,
            customer_id=row.customer_id,
            status=status,
            error_code=o.code,
            error_message=o.message or status,
            attempts=int(record["attempts"]) + 1,
            candidate_qb_customer_id=o.candidate,
        )
    ]
