"""Pushing one leased mapping row to QuickBooks, and writing the outcome.

Create (no QuickBooks id yet), idempotent in layers:
1. the requestid was stored with the row when the push was requested (state.request_push);
2. before the first call the create is frozen: its exact body is stored with the row and its
   name claimed in the company (state.freeze_create). Every retry resends those bytes under that
   requestid, whatever was renamed meanwhile, so QuickBooks can only ever replay it; a later
   rename is a sparse update once linked. Only a fault answer (nothing was created) unfreezes it,
   and the next create gets a new requestid;
3. find first: an exact DisplayName match (active or not, under the same parent) for any name a
   create of this row went out with, that no other customer is mapped to, is linked
   (`matched_by_name`): this is also how a create whose answer was lost is recovered when
   QuickBooks no longer remembers the requestid;
4. the name claim: no other row creates or links that name while this one may have created it.
On 6240 the name is looked up in Customer, Vendor and Employee: the row becomes `needs_link`
with the reason (and the candidate customer); a name is never altered. Sub-customers wait for
their parent's QuickBooks id (queueing the parent if it has no row); a parent that failed or
needs a person makes the child's attempts count, so it ends `failed` rather than waiting forever.

Update (linked): a sparse body of the fields the platform changed since the last reconcile
(`platform_content`) whose value QuickBooks (`pushed_content`) does not hold yet, with the stored
SyncToken. On 5010 the customer is re-read and merged three ways (docs/decisions/0012-qbsync-push.md):
a field both sides changed differently is a `conflict`; otherwise the platform's changes are
re-applied on the fresh SyncToken, at most `push_conflict_tries` times, then `conflict` too, with
every field still to send recorded. 6240 on a rename is `needs_link`; 610 (merged away in
QuickBooks) is `needs_link` for a person to pick the survivor, unless the merge is known.

Every outcome (row state + QuickBooksCustomerLinked / QuickBooksSyncFailed + the mirror of the
customer QuickBooks returned) is written in one transaction, only while the lease is still ours.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from prometheus_client import Counter

from platform_events.contracts.quickbooks import QuickBooksCustomerLinked, QuickBooksSyncFailed
from platform_events.envelope import EventData
from qb_sync.mirror import publish_mirror
from qb_sync.pull.state import record_merge
from qb_sync.push import fields
from qb_sync.push.lease import PushLease
from qb_sync.push.reports import report
from qb_sync.push.state import (
    MAX_CUSTOMER_WAIT_SECONDS,
    PARENT_NOT_SYNCED,
    REQUEST_ID_NAMESPACE,
    WAITING_FOR_CUSTOMER,
    LeaseLost,
    Mapping,
    ensure_parent_pending,
    freeze_create,
    get_mapping,
    load_snapshot,
    lock_if_still_ours,
    next_request_id,
    owner_of,
    release_claims,
    wake_children,
)
from qb_sync.qbo import errors, names
from qb_sync.qbo.gateway import QboGateway
from qb_sync.settings import Settings

Json = dict[str, Any]
log = logging.getLogger(__name__)

PUSH_OUTCOMES = Counter(
    "qbsync_push_outcomes_total",
    "Push attempts by outcome (linked, updated, unchanged, needs_link, conflict, wait, retry, "
    "failed, lost)",
    ["outcome"],
)


@dataclass
class Outcome:
    """What happened to one row. `kind`: linked | updated | unchanged | needs_link | conflict |
    wait | retry | failed | lost (the lease was taken over: nothing is written)."""

    kind: str
    customer: Json | None = None  # the QuickBooks customer as last returned
    how: str | None = None  # linked: created | matched_by_name | linked_by_user
    qb_content: Json | None = None  # new pushed_content: what QuickBooks holds now
    platform: Json | None = None  # new platform_content
    more: bool = False  # platform values QuickBooks does not hold yet: stay pending
    code: str | None = None
    message: str | None = None
    candidate: str | None = None
    conflict: Json | None = None
    delay: float = 0.0
    unfreeze: bool = False  # QuickBooks answered the create: it may be rebuilt (new requestid)
    merged_away: str | None = None  # 610: this QuickBooks id is gone


class Pusher:
    def __init__(self, pool: asyncpg.Pool, gateway: QboGateway, settings: Settings) -> None:
        self.pool = pool
        self.gateway = gateway
        self.settings = settings

    # -- one row -------------------------------------------------------------------------------
    async def push(self, row: Mapping, lease: PushLease) -> Outcome:
        try:
            outcome = await self._push(row, lease)
        except LeaseLost:
            outcome = Outcome("lost")
        except errors.LeaseEnding as exc:
            outcome = Outcome("wait", code="lease", message=str(exc)[:500])
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
            # The company must be reconnected: the row waits, pending, and resumes after that
            # (rows of a company that is not connected are not leased meanwhile).
            outcome = Outcome("wait", code="reauth_required", message=str(exc)[:500], delay=5.0)
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
        if outcome.kind != "lost":
            await self.finish(row, lease.token, outcome)
        return outcome

    async def _push(self, row: Mapping, lease: PushLease) -> Outcome:
        snapshot = await load_snapshot(self.pool, row.tenant_id, row.customer_id)
        if snapshot is None:
            # The mapping came before the customer's events (another topic): the snapshot wakes
            # the row when it arrives, so the waits in between may grow (see `finish`).
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
        if row.qb_customer_id is None:
            return await self._create(row, lease, snapshot, wanted, wanted_qb)
        return await self._update(row, lease, wanted, wanted_qb)

    async def _call(self, row: Mapping, lease: PushLease | None, op: str, fn: Any) -> Any:
        return await self.gateway.call(row.tenant_id, row.realm_id, op, fn, lease=lease)

    async def _find(
        self,
        row: Mapping,
        lease: PushLease | None,
        entity: str,
        wanted_names: list[str],
        *,
        exact: bool = True,
    ) -> list[Json]:
        """Records of `entity` named like any of `wanted_names` (exactly, unless `exact=False`:
        then as loosely as QuickBooks compares)."""
        found: dict[str, Json] = {}
        for query in names.name_queries(wanted_names):
            start = 1
            while True:
                sql = query.page(entity, start)
                reply = await self._call(
                    row, lease, f"push.find.{entity.lower()}", lambda qb, sql=sql: qb.query(sql)
                )
                page: list[Json] = (reply.get("QueryResponse") or {}).get(entity) or []
                for record in page:
                    name = str(record.get("DisplayName") or "")
                    if not exact or any(names.same_name(name, n) for n in wanted_names):
                        found[str(record["Id"])] = record
                if len(page) < names.PAGE:
                    break
                start += len(page)
        return list(found.values())

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

    # -- create --------------------------------------------------------------------------------
    async def _create(
        self, row: Mapping, lease: PushLease, snapshot: Json, wanted: Json, wanted_qb: Json
    ) -> Outcome:
        if row.create_payload is None:
            name = str(wanted["DisplayName"])
            if not name:
                return Outcome("failed", code="no_display_name", message="the customer has no name")
            body = fields.create_body(
                wanted,
                (wanted_qb.get("ParentRef") or {}).get("value"),
                snapshot.get("currency"),
            )
            payload = json.dumps(body, sort_keys=True)
            holder = await freeze_create(self.pool, row, lease.token, name, payload)
            if holder is not None:
                return await self._name_held(row, name, holder)
            sent_names = list(dict.fromkeys([*row.create_names, name]))
        else:
            payload = row.create_payload
            body = json.loads(payload)
            sent_names = list(row.create_names) or [str(body["DisplayName"])]
        frozen_name = str(body["DisplayName"])
        parents = {
            (body.get("ParentRef") or {}).get("value"),
            (wanted_qb.get("ParentRef") or {}).get("value"),
        }
        matched = await self._match_existing(
            row, lease, sent_names, frozen_name, parents, wanted, wanted_qb
        )
        if matched is not None:
            matched.unfreeze = matched.kind != "linked"
            return matched
        try:
            reply = await self._call(
                row,
                lease,
                "push.create",
                lambda qb: qb.create_object("Customer", payload, request_id=row.create_request_id),
            )
        except errors.QboFault as exc:
            if exc.code == errors.DUPLICATE_NAME:
                outcome = await self._name_taken(
                    row, lease, sent_names, frozen_name, parents, wanted, wanted_qb
                )
            else:
                outcome = Outcome(
                    "failed", code=str(exc.code), message=f"{exc.message} {exc.detail}"[:500]
                )
            outcome.unfreeze = outcome.kind != "linked"
            return outcome
        return self._linked(reply["Customer"], "created", wanted, wanted_qb)

    def _linked(self, customer: Json, how: str, wanted: Json, wanted_qb: Json) -> Outcome:
        held = fields.current(customer)
        pending = fields.to_send({}, wanted, held, wanted_qb)
        return Outcome(
            "linked",
            customer=customer,
            how=how,
            qb_content=held,
            # Not equal yet (a rename since the create was frozen, an inactive customer created
            # active, a matched customer's other values): those fields go out as an update.
            platform={} if pending else wanted,
            more=bool(pending),
        )

    async def linked_by_user(self, row: Mapping, customer: Json) -> Outcome:
        """The user chose this QuickBooks customer for a needs_link row: link it, then push the
        platform's values onto it."""
        snapshot = await load_snapshot(self.pool, row.tenant_id, row.customer_id) or {}
        parent_qb_id, _ = await self._parent(row, snapshot) if snapshot else (None, None)
        wanted = fields.desired(snapshot) if snapshot else {}
        return self._linked(
            customer, "linked_by_user", wanted, fields.quickbooks_values(wanted, parent_qb_id)
        )

    async def _match_existing(
        self,
        row: Mapping,
        lease: PushLease,
        sent_names: list[str],
        frozen_name: str,
        parents: set[str | None],
        wanted: Json,
        wanted_qb: Json,
    ) -> Outcome | None:
        elsewhere: tuple[Json, str] | None = None
        other_parent: Json | None = None
        for customer in await self._find(row, lease, "Customer", sent_names):
            qb_id = str(customer["Id"])
            exact_frozen = names.same_name(str(customer.get("DisplayName") or ""), frozen_name)
            owner = await owner_of(self.pool, row.tenant_id, row.realm_id, qb_id)
            if owner is not None and owner != row.customer_id:
                if exact_frozen:
                    elsewhere = (customer, owner)
                continue  # someone else's: never ours, whatever the name
            if (customer.get("ParentRef") or {}).get("value") not in parents:
                if exact_frozen:
                    other_parent = customer
                continue  # same name, another place in the customer tree
            return self._linked(customer, "matched_by_name", wanted, wanted_qb)
        if elsewhere is not None:
            customer, owner = elsewhere
            return Outcome(
                "needs_link",
                code="name_linked_elsewhere",
                message=(
                    f"display name {frozen_name!r} belongs to QuickBooks customer "
                    f"{customer['Id']}, already linked to customer {owner}"
                ),
                candidate=str(customer["Id"]),
            )
        if other_parent is not None:
            where = (other_parent.get("ParentRef") or {}).get("value")
            return Outcome(
                "needs_link",
                code="name_under_other_parent",
                message=(
                    f"display name {frozen_name!r} belongs to QuickBooks customer "
                    f"{other_parent['Id']}, "
                    + (f"a sub-customer of {where}" if where else "a top-level customer")
                    + ", not where this customer belongs"
                ),
                candidate=str(other_parent["Id"]),
            )
        return None

    async def _name_held(self, row: Mapping, name: str, holder: str) -> Outcome:
        """Another platform customer's create claimed this name in the company first."""
        other = await get_mapping(self.pool, row.tenant_id, row.realm_id, holder)
        message = f"customer {holder} is creating the QuickBooks customer {name!r}"
        if other is not None and other.qb_customer_id is None and other.status != "pending":
            return Outcome(
                "needs_link",
                code="name_claimed",
                message=f"{message} ({other.status}); resolve that one first",
            )
        return Outcome("wait", code="name_claimed", message=message, delay=1.0)

    async def _name_taken(
        self,
        row: Mapping,
        lease: PushLease,
        sent_names: list[str],
        frozen_name: str,
        parents: set[str | None],
        wanted: Json,
        wanted_qb: Json,
    ) -> Outcome:
        """6240 on create: a customer we may link (ours, created by an earlier attempt that
        QuickBooks' requestid memory no longer covers), else why the name is taken."""
        matched = await self._match_existing(
            row, lease, sent_names, frozen_name, parents, wanted, wanted_qb
        )
        if matched is not None:
            return matched
        return await self._taken_because(row, lease, frozen_name, exclude=None)

    async def _taken_because(
        self, row: Mapping, lease: PushLease, name: str, exclude: str | None
    ) -> Outcome:
        for customer in await self._find(row, lease, "Customer", [name], exact=False):
            if str(customer["Id"]) == exclude:
                continue
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
            for other in await self._find(row, lease, entity, [name], exact=False):
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
    async def _update(
        self, row: Mapping, lease: PushLease, wanted: Json, wanted_qb: Json
    ) -> Outcome:
        assert row.qb_customer_id is not None
        qb_id = row.qb_customer_id
        if row.platform_content is None:  # linked before the platform's data arrived: adopt it
            return Outcome("unchanged", platform=wanted)
        held = row.pushed_content
        token = row.sync_token
        latest: Json | None = None
        if held is None or token is None:  # QuickBooks' side unknown: read it first
            latest = await self._get(row, lease, qb_id)
            if latest is None:
                return await self._gone(row, qb_id)
            held, token = fields.current(latest), int(latest.get("SyncToken") or 0)
        diff = fields.to_send(row.platform_content, wanted, held, wanted_qb)
        if not diff:
            return Outcome("unchanged", customer=latest, qb_content=held, platform=wanted)
        for _ in range(max(1, self.settings.push_conflict_tries)):
            body = {"Id": qb_id, "SyncToken": str(token), "sparse": True, **diff}
            payload = json.dumps(body, sort_keys=True)
            # Same body on the same SyncToken = same requestid: a retry after a lost answer is
            # replayed by QuickBooks instead of answered 5010.
            rid = update_request_id(row.realm_id, qb_id, payload)
            try:
                reply = await self._call(
                    row,
                    lease,
                    "push.update",
                    lambda qb, body=payload, rid=rid: qb.update_object(
                        "Customer", body, request_id=rid
                    ),
                )
            except errors.QboFault as exc:
                if exc.code == errors.NOT_FOUND:
                    return await self._gone(row, qb_id)
                if exc.code == errors.DUPLICATE_NAME:
                    name = str(diff.get("DisplayName") or wanted.get("DisplayName"))
                    taken = await self._taken_because(row, lease, name, exclude=qb_id)
                    taken.message = f"renaming QuickBooks customer {qb_id}: {taken.message}"
                    return taken
                if exc.code != errors.STALE_OBJECT:
                    raise
                latest = await self._get(row, lease, qb_id)
                if latest is None:
                    return await self._gone(row, qb_id)
                theirs = fields.current(latest)
                merged = self._three_way(held, wanted_qb, diff, theirs, latest)
                if isinstance(merged, Outcome):
                    return merged
                held, token, diff = theirs, int(latest.get("SyncToken") or 0), merged
                if not diff:
                    return Outcome("updated", customer=latest, qb_content=held, platform=wanted)
                continue
            updated: Json = reply["Customer"]
            return Outcome(
                "updated", customer=updated, qb_content=fields.current(updated), platform=wanted
            )
        # Still stale: record every field still to send, so resolving it knows what is at stake.
        return Outcome(
            "conflict",
            code="5010",
            message=f"still stale after {self.settings.push_conflict_tries} tries",
            customer=latest,
            qb_content=held,
            conflict={
                name: {
                    "platform": wanted_qb.get(name),
                    "quickbooks": held.get(name),
                    "base": held.get(name),
                }
                for name in diff
            },
        )

    async def _get(self, row: Mapping, lease: PushLease | None, qb_id: str) -> Json | None:
        try:
            reply = await self._call(
                row, lease, "push.get", lambda qb: qb.get_single_object("Customer", qb_id)
            )
        except errors.QboFault as exc:
            if exc.code == errors.NOT_FOUND:
                return None
            raise
        customer: Json = reply["Customer"]
        return customer

    async def _gone(self, row: Mapping, qb_id: str) -> Outcome:
        """610: QuickBooks customers are never deleted, so it was merged into another one."""
        survivor = await self.pool.fetchval(
            """SELECT surviving_id FROM qb_merges
                WHERE tenant_id = $1 AND realm_id = $2 AND merged_id = $3
                  AND surviving_id IS NOT NULL AND applied_at IS NULL""",
            row.tenant_id,
            row.realm_id,
            qb_id,
        )
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

    @staticmethod
    def _three_way(
        held: Json, wanted_qb: Json, diff: Json, theirs: Json, latest: Json
    ) -> Json | Outcome:
        """Per field the platform wants to change: QuickBooks still has the value we last knew,
        or already has ours -> fine; QuickBooks has a third value -> conflict. Returns the
        fields still to send, or a conflict outcome."""
        clashes: Json = {}
        remaining: Json = {}
        for name, value in diff.items():
            before, ours, now = held.get(name), wanted_qb.get(name), theirs.get(name)
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
                qb_content=theirs,
                conflict=clashes,
            )
        if any(f in remaining for f in fields.PARENT_FIELDS):
            for f in fields.PARENT_FIELDS:
                if f in diff:
                    remaining.setdefault(f, diff[f])
        return remaining

    # -- outcome -------------------------------------------------------------------------------
    async def finish(self, row: Mapping, token: uuid.UUID, outcome: Outcome) -> None:
        try:
            await self._finish(row, token, outcome)
        except asyncpg.UniqueViolationError:
            # Another row linked the same QuickBooks customer between our check and our write.
            assert outcome.customer is not None
            await self._finish(
                row,
                token,
                Outcome(
                    "needs_link",
                    code="name_linked_elsewhere",
                    message=f"QuickBooks customer {outcome.customer['Id']} was linked to another"
                    " customer meanwhile",
                    candidate=str(outcome.customer["Id"]),
                    unfreeze=True,
                ),
            )

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
        key = (row.tenant_id, row.realm_id, row.customer_id)
        dirty = bool(record["dirty"])
        attempts = int(record["attempts"])
        reported = bool(record["failure_reported"])
        events: list[EventData] = []
        token = int(o.customer.get("SyncToken") or 0) if o.customer else None
        if o.kind == "linked" and o.customer is not None:
            holder = await owner_of(conn, row.tenant_id, row.realm_id, str(o.customer["Id"]))
            if holder is not None and holder != row.customer_id:
                o = Outcome(
                    "needs_link",
                    code="name_linked_elsewhere",
                    message=f"QuickBooks customer {o.customer['Id']} is linked to customer "
                    f"{holder}",
                    candidate=str(o.customer["Id"]),
                    unfreeze=True,
                )
                token = None
        if o.customer is not None:
            # The new link rides on the mirror too: its QuickBooksCustomerLinked goes to another
            # topic, and until it arrives the customer service would show the QuickBooks
            # customer as unmapped, free for "create here" (a duplicate platform customer).
            await publish_mirror(
                conn,
                row.tenant_id,
                row.realm_id,
                o.customer,
                linked_customer_id=row.customer_id if o.kind == "linked" else None,
            )
        qb_content = json.dumps(o.qb_content) if o.qb_content is not None else None
        if o.kind in ("linked", "updated", "unchanged"):
            linked = o.kind == "linked"
            qb_id = str(o.customer["Id"]) if linked and o.customer else None
            more = dirty or o.more
            await conn.execute(
                """UPDATE push_mappings
                      SET qb_customer_id = COALESCE($4, qb_customer_id),
                          sync_token = COALESCE($5, sync_token),
                          status = CASE WHEN $9 THEN 'pending' ELSE 'synced' END,
                          due_at = CASE WHEN $9 THEN now() END,
                          pushed_content = COALESCE($6::jsonb, pushed_content),
                          platform_content = $7::jsonb, pushed_hash = $8, attempts = 0,
                          last_error_code = NULL, last_error_message = NULL, conflict = NULL,
                          candidate_qb_customer_id = NULL, lease_until = NULL,
                          lease_owner = NULL, lease_token = NULL, failure_reported = false,
                          create_payload = CASE WHEN $10 THEN NULL ELSE create_payload END,
                          create_names = CASE WHEN $10 THEN '{}' ELSE create_names END,
                          updated_at = now()
                    WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
                *key,
                qb_id,
                token,
                qb_content,
                json.dumps(o.platform) if o.platform is not None else None,
                fields.content_hash(o.platform),
                more,
                linked,
            )
            if linked:
                await release_claims(conn, row.tenant_id, row.realm_id, row.customer_id)
                await wake_children(conn, row.tenant_id, row.realm_id, row.customer_id)
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
            # Waiting for the customer's data again doubles the delay (a customer whose events
            # never come costs a poll a minute, not one every two seconds): the snapshot wakes
            # the row when it comes, or marks it dirty when it came during this push.
            for_customer = o.code == WAITING_FOR_CUSTOMER
            await conn.execute(
                """UPDATE push_mappings SET due_at = now() + make_interval(secs =>
                          CASE WHEN $7 AND last_error_code = $5 AND due_at > updated_at
                               THEN LEAST($8, GREATEST($4,
                                    2 * EXTRACT(EPOCH FROM due_at - updated_at)::float8))
                               ELSE $4 END),
                          last_error_code = $5, last_error_message = $6,
                          lease_until = NULL, lease_owner = NULL, lease_token = NULL,
                          updated_at = now()
                    WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
                *key,
                0.0 if for_customer and dirty else o.delay,
                o.code or "waiting",
                o.message,
                for_customer and not dirty,
                MAX_CUSTOMER_WAIT_SECONDS,
            )
        elif o.kind == "retry" and attempts + 1 < self.settings.push_max_attempts:
            delay = max(o.delay, self._backoff(attempts + 1))
            await conn.execute(
                """UPDATE push_mappings SET attempts = attempts + 1,
                          due_at = now() + make_interval(secs => $4),
                          last_error_code = $5, last_error_message = $6,
                          lease_until = NULL, lease_owner = NULL, lease_token = NULL,
                          updated_at = now()
                    WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
                *key,
                delay,
                o.code,
                o.message,
            )
        else:  # failed, conflict, needs_link, or retries used up
            status = "failed" if o.kind == "retry" else o.kind
            # QuickBooks answered the frozen create (nothing created): the next one may differ,
            # under a new requestid. Names it went out with stay searched and claimed.
            unfreeze = o.unfreeze and record["create_payload"] is not None
            request_id = (
                next_request_id(record["create_request_id"])
                if unfreeze
                else record["create_request_id"]
            )
            await conn.execute(
                """UPDATE push_mappings SET status = $4, attempts = attempts + 1, due_at = NULL,
                          last_error_code = $5, last_error_message = $6,
                          candidate_qb_customer_id = $7, conflict = $8::jsonb,
                          sync_token = COALESCE($9, sync_token),
                          pushed_content = COALESCE($10::jsonb, pushed_content),
                          failure_reported = true,
                          create_payload = CASE WHEN $11 THEN NULL ELSE create_payload END,
                          create_request_id = $12,
                          lease_until = NULL, lease_owner = NULL, lease_token = NULL,
                          updated_at = now()
                    WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
                *key,
                status,
                o.code,
                o.message,
                o.candidate,
                json.dumps(o.conflict) if o.conflict is not None else None,
                token,
                qb_content,
                unfreeze,
                request_id,
            )
            if o.merged_away is not None:  # the pull side publishes its end in the mirror
                await record_merge(conn, row.tenant_id, row.realm_id, o.merged_away, None)
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
        await report(conn, row.tenant_id, row.customer_id, events, sequence=token or 0)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(
            self.settings.push_backoff_max_seconds,
            self.settings.push_backoff_base_seconds * 2 ** (attempt - 1),
        )
        return ceiling * (0.5 + random.random() / 2)


def update_request_id(realm_id: str, qb_id: str, payload: str) -> str:
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, f"update:{realm_id}:{qb_id}:{payload}"))
