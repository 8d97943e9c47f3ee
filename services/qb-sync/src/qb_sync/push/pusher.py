"""Pushing one leased mapping row to QuickBooks, and writing the outcome.

Create (no QuickBooks id yet), idempotent in three layers:
1. the requestid was stored with the row when the push was requested (state.request_push);
2. find first: an exact DisplayName match (active or not) that no other customer is mapped to is
   linked (`matched_by_name`): this is also how a create whose answer was lost is recovered;
3. create with the stored requestid, the same on every retry (QuickBooks replays the answer).
On 6240 the name is looked up in Customer, Vendor and Employee: the row becomes `needs_link`
with the reason (and the candidate customer); a name is never altered.
Sub-customers wait for their parent's QuickBooks id (queueing the parent if it has no row).

Update (linked): a sparse body of only the fields that differ from `pushed_content`, with the
stored SyncToken. On 5010 the customer is re-read and merged three ways (see
docs/decisions/qbsync-push.md): a field both sides changed differently is a `conflict`; otherwise
the platform's changes are re-applied on the fresh SyncToken, at most `push_conflict_tries` times.

Every outcome (row state + QuickBooksCustomerLinked / QuickBooksSyncFailed + the mirror of the
customer QuickBooks returned) is written in one transaction, only while the lease is still ours.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from prometheus_client import Counter

from platform_events.contracts.quickbooks import QuickBooksCustomerLinked, QuickBooksSyncFailed
from platform_events.envelope import EventData, new_envelope
from platform_kit.outbox import add_to_outbox, outgoing
from qb_sync.mirror import publish_mirror
from qb_sync.push import fields
from qb_sync.push.state import (
    REQUEST_ID_NAMESPACE,
    Mapping,
    ensure_parent_pending,
    get_mapping,
    load_snapshot,
    lock_if_still_ours,
    owner_of,
)
from qb_sync.qbo import errors, names
from qb_sync.qbo.gateway import QboGateway
from qb_sync.settings import Settings

Json = dict[str, Any]
SOURCE = "qb-sync"
log = logging.getLogger(__name__)

PUSH_OUTCOMES = Counter(
    "qbsync_push_outcomes_total",
    "Push attempts by outcome (linked, updated, unchanged, needs_link, conflict, wait, retry, "
    "failed)",
    ["outcome"],
)


@dataclass
class Outcome:
    """What happened to one row. `kind`: linked | updated | unchanged | needs_link | conflict |
    wait | retry | failed."""

    kind: str
    customer: Json | None = None  # the QuickBooks customer as last returned
    how: str | None = None  # linked: created | matched_by_name | linked_by_user
    base: Json | None = None  # new pushed_content
    code: str | None = None
    message: str | None = None
    candidate: str | None = None
    conflict: Json | None = None
    delay: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Pusher:
    def __init__(self, pool: asyncpg.Pool, gateway: QboGateway, settings: Settings) -> None:
        self.pool = pool
        self.gateway = gateway
        self.settings = settings

    # -- one row -------------------------------------------------------------------------------
    async def push(self, row: Mapping, owner: str) -> Outcome:
        try:
            outcome = await self._push(row)
        except errors.Throttled as exc:
            outcome = Outcome(
                "retry",
                code="429",
                message=str(exc)[:500],
                delay=self.settings.qbo_throttle_wait_seconds,
            )
        except (errors.Transient, errors.AuthExpired) as exc:
            outcome = Outcome("retry", code=type(exc).__name__.lower(), message=str(exc)[:500])
        except errors.ReauthRequired as exc:
            outcome = Outcome("failed", code="reauth_required", message=str(exc)[:500])
        except errors.QboFault as exc:
            outcome = Outcome(
                "failed", code=str(exc.code), message=f"{exc.message} {exc.detail}"[:500]
            )
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
        await self.finish(row, owner, outcome)
        return outcome

    async def _push(self, row: Mapping) -> Outcome:
        snapshot = await load_snapshot(self.pool, row.tenant_id, row.customer_id)
        if snapshot is None:
            return Outcome("wait", message="waiting for the customer's data", delay=2.0)
        if row.qb_customer_id is None:
            return await self._create(row, snapshot)
        return await self._update(row, snapshot)

    async def _call(self, row: Mapping, op: str, fn: Any) -> Any:
        return await self.gateway.call(row.tenant_id, row.realm_id, op, fn)

    async def _find(self, row: Mapping, entity: str, name: str) -> list[Json]:
        sql = names.by_display_name(entity, name)
        reply = await self._call(row, f"push.find.{entity.lower()}", lambda qb: qb.query(sql))
        found: list[Json] = (reply.get("QueryResponse") or {}).get(entity) or []
        return found

    # -- create --------------------------------------------------------------------------------
    async def _create(self, row: Mapping, snapshot: Json) -> Outcome:
        parent_qb_id: str | None = None
        parent_id = snapshot.get("parent_id")
        if parent_id:
            parent = await get_mapping(self.pool, row.tenant_id, row.realm_id, parent_id)
            if parent is None:
                await ensure_parent_pending(
                    self.pool, row.tenant_id, row.realm_id, parent_id, row.create_request_id
                )
                return Outcome("wait", message=f"waiting for parent {parent_id}", delay=0.5)
            if parent.qb_customer_id is None:
                return Outcome(
                    "wait",
                    message=f"waiting for parent {parent_id} ({parent.status})",
                    delay=0.5 if parent.status == "pending" else 30.0,
                )
            parent_qb_id = parent.qb_customer_id
        name = fields.display_name(snapshot)
        if not name:
            return Outcome("failed", code="no_display_name", message="the customer has no name")
        matched = await self._match_existing(row, name)
        if matched is not None:
            return matched
        body = fields.create_body(snapshot, parent_qb_id)
        payload = json.dumps(body)
        try:
            reply = await self._call(
                row,
                "push.create",
                lambda qb: qb.create_object("Customer", payload, request_id=row.create_request_id),
            )
        except errors.QboFault as exc:
            if exc.code != errors.DUPLICATE_NAME:
                raise
            return await self._name_taken(row, name)
        created: Json = reply["Customer"]
        return Outcome("linked", customer=created, how="created", base=fields.current(created))

    async def _match_existing(self, row: Mapping, name: str) -> Outcome | None:
        for customer in await self._find(row, "Customer", name):
            if not names.same_name(str(customer.get("DisplayName") or ""), name):
                continue
            owner = await owner_of(self.pool, row.tenant_id, row.realm_id, str(customer["Id"]))
            if owner is not None and owner != row.customer_id:
                return Outcome(
                    "needs_link",
                    code="name_linked_elsewhere",
                    message=(
                        f"display name {name!r} belongs to QuickBooks customer "
                        f"{customer['Id']}, already linked to customer {owner}"
                    ),
                    candidate=str(customer["Id"]),
                )
            return Outcome(
                "linked", customer=customer, how="matched_by_name", base=fields.current(customer)
            )
        return None

    async def _name_taken(self, row: Mapping, name: str) -> Outcome:
        """6240: the name is used somewhere QuickBooks compares more loosely than we match."""
        matched = await self._match_existing(row, name)
        if matched is not None:
            return matched
        for customer in await self._find(row, "Customer", name):
            return Outcome(
                "needs_link",
                code="6240",
                message=(
                    f"display name {name!r} is taken by QuickBooks customer "
                    f"{customer['Id']} ({customer.get('DisplayName')!r})"
                ),
                candidate=str(customer["Id"]),
            )
        for entity in ("Vendor", "Employee"):
            for other in await self._find(row, entity, name):
                return Outcome(
                    "needs_link",
                    code="6240",
                    message=(
                        f"display name {name!r} is used by QuickBooks {entity.lower()} "
                        f"{other['Id']} ({other.get('DisplayName')!r}); a customer cannot "
                        "share it"
                    ),
                )
        return Outcome(
            "needs_link",
            code="6240",
            message=f"QuickBooks reports the display name {name!r} as taken",
        )

    # -- update --------------------------------------------------------------------------------
    async def _update(self, row: Mapping, snapshot: Json) -> Outcome:
        assert row.qb_customer_id is not None
        qb_id = row.qb_customer_id
        wanted = fields.desired(snapshot)
        base = row.pushed_content if row.pushed_content is not None else wanted
        diff = fields.changes(base, wanted)
        if not diff:
            return Outcome("unchanged", base=base)
        token = row.sync_token
        latest: Json | None = None
        if token is None:  # linked by the user: we never saw a SyncToken
            latest = await self._get(row, qb_id)
            token = int(latest.get("SyncToken") or 0)
            merged = self._three_way(base, wanted, diff, latest)
            if isinstance(merged, Outcome):
                return merged
            diff = merged
        for _ in range(max(1, self.settings.push_conflict_tries)):
            if not diff:
                return Outcome("updated", customer=latest, base=_rebased(base, wanted))
            body = {"Id": qb_id, "SyncToken": str(token), "sparse": True, **diff}
            payload = json.dumps(body, sort_keys=True)
            # Same body on the same SyncToken = same requestid: a retry after a lost answer is
            # replayed by QuickBooks instead of answered 5010.
            rid = update_request_id(row.realm_id, qb_id, payload)
            try:
                reply = await self._call(
                    row,
                    "push.update",
                    lambda qb, body=payload, rid=rid: qb.update_object(
                        "Customer", body, request_id=rid
                    ),
                )
            except errors.QboFault as exc:
                if exc.code == errors.NOT_FOUND:
                    return Outcome(
                        "failed",
                        code="610",
                        message=f"QuickBooks customer {qb_id} no longer exists",
                    )
                if exc.code != errors.STALE_OBJECT:
                    raise
                latest = await self._get(row, qb_id)
                token = int(latest.get("SyncToken") or 0)
                merged = self._three_way(base, wanted, diff, latest)
                if isinstance(merged, Outcome):
                    return merged
                diff = merged
                continue
            updated: Json = reply["Customer"]
            return Outcome("updated", customer=updated, base=_rebased(base, wanted))
        return Outcome(
            "conflict",
            code="5010",
            message=f"still stale after {self.settings.push_conflict_tries} tries",
            customer=latest,
            conflict={"stale": True},
        )

    async def _get(self, row: Mapping, qb_id: str) -> Json:
        reply = await self._call(
            row, "push.get", lambda qb: qb.get_single_object("Customer", qb_id)
        )
        customer: Json = reply["Customer"]
        return customer

    @staticmethod
    def _three_way(base: Json, wanted: Json, diff: Json, latest: Json) -> Json | Outcome:
        """Per field the platform wants to change: QuickBooks still has the base value, or
        already has ours -> fine; QuickBooks has a third value -> conflict. Returns the fields
        still to send, or a conflict outcome."""
        theirs = fields.current(latest)
        clashes: Json = {}
        remaining: Json = {}
        for name, value in diff.items():
            before, ours, now = base.get(name), wanted.get(name), theirs.get(name)
            if now == ours:
                continue  # already there (e.g. our earlier update whose answer was lost)
            if now != before:
                clashes[name] = {"platform": ours, "quickbooks": now, "base": before}
            else:
                remaining[name] = value
        if clashes:
            return Outcome(
                "conflict",
                code="conflict",
                message="changed in QuickBooks and on the platform: " + ", ".join(sorted(clashes)),
                customer=latest,
                conflict=clashes,
            )
        return remaining

    # -- outcome -------------------------------------------------------------------------------
    async def finish(self, row: Mapping, owner: str, outcome: Outcome) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            record = await lock_if_still_ours(conn, row, owner)
            if record is None:
                log.info(
                    "lease lost; outcome dropped",
                    extra={"fields": {"customer_id": row.customer_id}},
                )
                return
            dirty = bool(record["dirty"])
            reported = bool(record["failure_reported"])
            await self._write(conn, row, outcome, dirty, int(record["attempts"]), reported)

    async def _write(
        self,
        conn: asyncpg.Connection,
        row: Mapping,
        o: Outcome,
        dirty: bool,
        attempts: int,
        reported: bool = False,
    ) -> None:
        key = (row.tenant_id, row.realm_id, row.customer_id)
        events: list[EventData] = []
        token = int(o.customer.get("SyncToken") or 0) if o.customer else None
        if o.customer is not None:
            await publish_mirror(conn, row.tenant_id, row.realm_id, o.customer)
        if o.kind in ("linked", "updated", "unchanged"):
            base = o.base or {}
            qb_id = str(o.customer["Id"]) if o.kind == "linked" and o.customer else None
            # More to send: the data changed while we pushed, or a match/create is not yet equal
            # to the platform's data (an inactive customer is created active, then inactivated).
            snapshot = await load_snapshot(conn, row.tenant_id, row.customer_id)
            more = dirty or (
                snapshot is not None and bool(fields.changes(base, fields.desired(snapshot)))
            )
            await conn.execute(
                """UPDATE push_mappings
                      SET qb_customer_id = COALESCE($4, qb_customer_id),
                          sync_token = COALESCE($5, sync_token),
                          status = CASE WHEN $8 THEN 'pending' ELSE 'synced' END,
                          due_at = CASE WHEN $8 THEN now() END,
                          pushed_content = $6::jsonb, pushed_hash = $7, attempts = 0,
                          last_error_code = NULL, last_error_message = NULL, conflict = NULL,
                          candidate_qb_customer_id = NULL, lease_until = NULL,
                          lease_owner = NULL, failure_reported = false, updated_at = now()
                    WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
                *key,
                qb_id,
                token,
                json.dumps(base),
                fields.content_hash(base),
                more,
            )
            linked_to = qb_id or (row.qb_customer_id if reported else None)
            if linked_to is not None:
                # A new link, or a link that had been reported failed and works again.
                events.append(
                    QuickBooksCustomerLinked(
                        realm_id=row.realm_id,
                        customer_id=row.customer_id,
                        qb_customer_id=linked_to,
                        sync_token=token or row.sync_token or 0,
                        how=(o.how or "created") if qb_id else "resynced",
                    )
                )
        elif o.kind == "wait":
            await conn.execute(
                """UPDATE push_mappings SET due_at = now() + make_interval(secs => $4),
                          last_error_code = 'waiting', last_error_message = $5,
                          lease_until = NULL, lease_owner = NULL, updated_at = now()
                    WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
                *key,
                o.delay,
                o.message,
            )
        elif o.kind == "retry" and attempts + 1 < self.settings.push_max_attempts:
            delay = max(o.delay, self._backoff(attempts + 1))
            await conn.execute(
                """UPDATE push_mappings SET attempts = attempts + 1,
                          due_at = now() + make_interval(secs => $4),
                          last_error_code = $5, last_error_message = $6,
                          lease_until = NULL, lease_owner = NULL, updated_at = now()
                    WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
                *key,
                delay,
                o.code,
                o.message,
            )
        else:  # failed, conflict, needs_link, or retries used up
            status = "failed" if o.kind == "retry" else o.kind
            await conn.execute(
                """UPDATE push_mappings SET status = $4, attempts = attempts + 1, due_at = NULL,
                          last_error_code = $5, last_error_message = $6,
                          candidate_qb_customer_id = $7, conflict = $8::jsonb,
                          sync_token = COALESCE($9, sync_token), failure_reported = true,
                          lease_until = NULL, lease_owner = NULL, updated_at = now()
                    WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
                *key,
                status,
                o.code,
                o.message,
                o.candidate,
                json.dumps(o.conflict) if o.conflict is not None else None,
                token,
            )
            events.append(
                QuickBooksSyncFailed(
                    realm_id=row.realm_id,
                    customer_id=row.customer_id,
                    status=status,
                    error_code=o.code,
                    error_message=o.message or status,
                    attempts=attempts + 1,
                    candidate_qb_customer_id=o.candidate,
                )
            )
        if events:
            await add_to_outbox(
                conn,
                [
                    outgoing(
                        new_envelope(
                            data,
                            source=SOURCE,
                            subject=row.customer_id,
                            tenant_id=row.tenant_id,
                            sequence=token or 0,
                        ),
                        key=row.customer_id,
                    )
                    for data in events
                ],
            )

    def _backoff(self, attempt: int) -> float:
        ceiling = min(
            self.settings.push_backoff_max_seconds,
            self.settings.push_backoff_base_seconds * 2 ** (attempt - 1),
        )
        return ceiling * (0.5 + random.random() / 2)


def update_request_id(realm_id: str, qb_id: str, payload: str) -> str:
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, f"update:{realm_id}:{qb_id}:{payload}"))


def _rebased(base: Json, wanted: Json) -> Json:
    """The new pushed_content: what we now know QuickBooks holds for our fields."""
    out = dict(base)
    for name in fields.FIELDS:
        if base.get(name) != wanted.get(name):
            if wanted.get(name) is None:
                out.pop(name, None)
            else:
                out[name] = wanted[name]
    return out
