"""The sync status of pushed customers, as a person sees and repairs it: list, read, retry,
resolve (link the QuickBooks customer a `needs_link` row should have, or settle a `conflict`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from qb_sync.domain import fields
from qb_sync.domain.conflict_settlement import settle
from qb_sync.domain.errors import (
    Conflict,
    FieldProblem,
    NotFound,
    UpstreamFailed,
    UpstreamUnavailable,
    ValidationFailed,
)
from qb_sync.qbo import errors
from qb_sync.qbo.customer_calls import CustomerCalls
from qb_sync.qbo.gateway import QboGateway
from qb_sync.store.push.intent import reopen_settled, retry_now
from qb_sync.store.push.leases import take_over
from qb_sync.store.push.rows import Mapping, get_mapping, list_rows, owner_of
from qb_sync.store.push.snapshots import load_snapshot
from qb_sync.store.realm_pauses import RealmPause, current_pauses
from qb_sync.usecases.push_row import Pusher


@dataclass
class SyncRows:
    db: asyncpg.Pool
    gateway: QboGateway | None
    pusher: Pusher | None  # None until the app has started
    wake_pusher: Callable[[], None]

    async def list(
        self, tenant_id: str, status: str | None, realm_id: str | None, limit: int
    ) -> list[Mapping]:
        return await list_rows(self.db, tenant_id, status, realm_id, limit)

    async def pauses(
        self, tenant_id: str, realm_ids: Sequence[str] | None
    ) -> dict[str, RealmPause]:
        """The companies (of these, or all the tenant's) QuickBooks has throttled, paused now."""
        wanted = [*realm_ids] if realm_ids is not None else None
        return {p.realm_id: p for p in await current_pauses(self.db, tenant_id, wanted)}

    async def one(self, tenant_id: str, realm_id: str, customer_id: str) -> Mapping:
        row = await get_mapping(self.db, tenant_id, realm_id, customer_id)
        if row is None:
            raise NotFound(f"no sync row for customer {customer_id} in company {realm_id}")
        return row

    async def retry(self, tenant_id: str, realm_id: str, customer_id: str) -> Mapping:
        row = await self.one(tenant_id, realm_id, customer_id)
        if row.status not in ("failed", "needs_link"):
            raise Conflict(
                "invalid_state",
                f"only failed or needs_link rows can be retried (this one is {row.status});"
                " a conflict is resolved with POST .../resolve",
            )
        await retry_now(self.db, tenant_id, realm_id, customer_id)
        self.wake_pusher()
        return await self.one(tenant_id, realm_id, customer_id)

    async def resolve(
        self,
        tenant_id: str,
        realm_id: str,
        customer_id: str,
        qb_customer_id: str | None,
        keep: str | None,
    ) -> Mapping:
        row = await self.one(tenant_id, realm_id, customer_id)
        if row.status == "needs_link":
            if not qb_customer_id:
                raise ValidationFailed(
                    "choose the QuickBooks customer to link",
                    FieldProblem("qb_customer_id", "required for a needs_link row", "required"),
                )
            await self.link_chosen(tenant_id, row, qb_customer_id)
        elif row.status == "conflict":
            if keep is None:
                raise ValidationFailed(
                    "choose whose values to keep",
                    FieldProblem("keep", "platform or quickbooks", "required"),
                )
            await self.settle_conflict(tenant_id, row, keep)
        else:
            raise Conflict(
                "invalid_state", f"only needs_link or conflict rows are resolved ({row.status})"
            )
        self.wake_pusher()
        return await self.one(tenant_id, realm_id, customer_id)

    async def link_chosen(self, tenant_id: str, row: Mapping, qb_customer_id: str) -> None:
        owner = await owner_of(self.db, tenant_id, row.realm_id, qb_customer_id)
        if owner is not None and owner != row.customer_id:
            raise Conflict(
                "already_linked",
                f"QuickBooks customer {qb_customer_id} is linked to customer {owner}",
                linked_customer_id=owner,
            )
        assert self.gateway is not None and self.pusher is not None
        calls = CustomerCalls(self.gateway, tenant_id, row.realm_id, lease=None)
        try:
            customer = await calls.get(qb_customer_id, op="push.resolve.get")
        except errors.QboFault as exc:
            raise UpstreamFailed("quickbooks_error", str(exc)) from None
        except (errors.Transient, errors.Throttled) as exc:
            raise UpstreamUnavailable("quickbooks_unavailable", str(exc)) from None
        if customer is None:
            raise ValidationFailed(
                f"QuickBooks customer {qb_customer_id} does not exist",
                FieldProblem("qb_customer_id", "no such QuickBooks customer", "not_found"),
            )
        # Take the row over with a lease of our own (a worker holding it loses it: its outcome
        # is dropped), then write the outcome like the worker does.
        token = uuid.uuid4()
        await take_over(self.db, row, "api", token)
        await self.pusher.finish(row, token, await self.pusher.linked_by_user(row, customer))

    async def settle_conflict(self, tenant_id: str, row: Mapping, keep: str) -> None:
        """keep=quickbooks: the platform's values of the conflicting fields count as reconciled,
        so they are not pushed (later platform changes are). keep=platform: those fields are
        pushed over what QuickBooks holds now (pushed_content, read when the conflict arose)."""
        snapshot = await load_snapshot(self.db, tenant_id, row.customer_id)
        wanted = fields.desired(snapshot) if snapshot else {}
        platform, pushed_content = settle(
            row.platform_content, row.pushed_content, row.conflict, wanted, keep
        )
        await reopen_settled(
            self.db, tenant_id, row.realm_id, row.customer_id, platform, pushed_content
        )
