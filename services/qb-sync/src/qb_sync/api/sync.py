"""Sync status of pushed customers: list, one row, retry, resolve.

- `GET  /quickbooks/sync?status=&realm_id=&limit=`            rows of the caller's tenant
- `GET  /quickbooks/sync/{realm_id}/{customer_id}`            one row
- `POST /quickbooks/sync/{realm_id}/{customer_id}/retry`      failed / needs_link -> pending now
- `POST /quickbooks/sync/{realm_id}/{customer_id}/resolve`
    needs_link: `{"qb_customer_id": "..."}` links that QuickBooks customer (how=linked_by_user),
      then the platform's values are pushed to it as a sparse update;
    conflict: `{"keep": "platform"}` pushes the platform's values of the conflicting fields over
      QuickBooks' ones, `{"keep": "quickbooks"}` leaves QuickBooks' values (the platform keeps
      its own; only its later changes are pushed).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, StringConstraints

from platform_kit.auth import Principal
from platform_kit.http import ApiError, field_error
from platform_kit.runtime import ServiceRuntime
from qb_sync.push import fields
from qb_sync.push.state import Mapping, get_mapping, load_snapshot, owner_of
from qb_sync.qbo import errors

if TYPE_CHECKING:
    from qb_sync.push.service import PushSide

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Status = Literal["pending", "synced", "failed", "conflict", "needs_link"]


class SyncRowOut(BaseModel):
    realm_id: str
    customer_id: str
    qb_customer_id: str | None
    sync_token: int | None
    status: str
    attempts: int
    last_error_code: str | None
    last_error_message: str | None
    candidate_qb_customer_id: str | None
    conflict: dict[str, Any] | None
    pushed_hash: str | None
    due_at: datetime | None
    updated_at: datetime

    @staticmethod
    def of(m: Mapping) -> SyncRowOut:
        return SyncRowOut(
            realm_id=m.realm_id,
            customer_id=m.customer_id,
            qb_customer_id=m.qb_customer_id,
            sync_token=m.sync_token,
            status=m.status,
            attempts=m.attempts,
            last_error_code=m.last_error_code,
            last_error_message=m.last_error_message,
            candidate_qb_customer_id=m.candidate_qb_customer_id,
            conflict=m.conflict,
            pushed_hash=m.pushed_hash,
            due_at=m.due_at,
            updated_at=m.updated_at,
        )


class SyncListOut(BaseModel):
    items: list[SyncRowOut]


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    qb_customer_id: Id | None = None
    keep: Literal["platform", "quickbooks"] | None = None


def sync_routes(runtime: ServiceRuntime, push: PushSide) -> APIRouter:
    router = APIRouter(tags=["quickbooks sync"])
    reader = Depends(runtime.auth.require("read"))
    writer = Depends(runtime.auth.require("write"))

    async def row_or_404(tenant_id: str, realm_id: str, customer_id: str) -> Mapping:
        row = await get_mapping(runtime.db, tenant_id, realm_id, customer_id)
        if row is None:
            raise ApiError(
                404, "not_found", f"no sync row for customer {customer_id} in company {realm_id}"
            )
        return row

    @router.get("/quickbooks/sync")
    async def list_rows(
        principal: Principal = reader,
        status: Status | None = None,
        realm_id: Id | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> SyncListOut:
        rows = await runtime.db.fetch(
            """SELECT * FROM push_mappings WHERE tenant_id = $1
                  AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR realm_id = $3)
                ORDER BY updated_at DESC, customer_id LIMIT $4""",
            principal.tenant_id,
            status,
            realm_id,
            limit,
        )
        return SyncListOut(items=[SyncRowOut.of(Mapping.of(r)) for r in rows])

    @router.get("/quickbooks/sync/{realm_id}/{customer_id}")
    async def one(realm_id: Id, customer_id: Id, principal: Principal = reader) -> SyncRowOut:
        return SyncRowOut.of(await row_or_404(principal.tenant_id, realm_id, customer_id))

    @router.post("/quickbooks/sync/{realm_id}/{customer_id}/retry", status_code=202)
    async def retry(realm_id: Id, customer_id: Id, principal: Principal = writer) -> SyncRowOut:
        row = await row_or_404(principal.tenant_id, realm_id, customer_id)
        if row.status not in ("failed", "needs_link"):
            raise ApiError(
                409,
                "invalid_state",
                f"only failed or needs_link rows can be retried (this one is {row.status});"
                " a conflict is resolved with POST .../resolve",
            )
        await runtime.db.execute(
            """UPDATE push_mappings SET status = 'pending', due_at = now(), attempts = 0,
                      candidate_qb_customer_id = NULL, updated_at = now()
                WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
            principal.tenant_id,
            realm_id,
            customer_id,
        )
        push.wake()
        return SyncRowOut.of(await row_or_404(principal.tenant_id, realm_id, customer_id))

    @router.post("/quickbooks/sync/{realm_id}/{customer_id}/resolve")
    async def resolve(
        realm_id: Id, customer_id: Id, body: ResolveIn, principal: Principal = writer
    ) -> SyncRowOut:
        tenant_id = principal.tenant_id
        row = await row_or_404(tenant_id, realm_id, customer_id)
        if row.status == "needs_link":
            if not body.qb_customer_id:
                raise ApiError(
                    422,
                    "validation_failed",
                    "choose the QuickBooks customer to link",
                    [field_error("qb_customer_id", "required for a needs_link row", "required")],
                )
            await link_chosen(tenant_id, row, body.qb_customer_id)
        elif row.status == "conflict":
            if body.keep is None:
                raise ApiError(
                    422,
                    "validation_failed",
                    "choose whose values to keep",
                    [field_error("keep", "platform or quickbooks", "required")],
                )
            await settle_conflict(tenant_id, row, body.keep)
        else:
            raise ApiError(
                409,
                "invalid_state",
                f"only needs_link or conflict rows are resolved ({row.status})",
            )
        push.wake()
        return SyncRowOut.of(await row_or_404(tenant_id, realm_id, customer_id))

    async def link_chosen(tenant_id: str, row: Mapping, qb_customer_id: str) -> None:
        owner = await owner_of(runtime.db, tenant_id, row.realm_id, qb_customer_id)
        if owner is not None and owner != row.customer_id:
            raise ApiError(
                409,
                "already_linked",
                f"QuickBooks customer {qb_customer_id} is linked to customer {owner}",
                linked_customer_id=owner,
            )
        assert push.gateway is not None and push.pusher is not None
        try:
            reply = await push.gateway.call(
                tenant_id,
                row.realm_id,
                "push.resolve.get",
                lambda qb: qb.get_single_object("Customer", qb_customer_id),
            )
        except errors.QboFault as exc:
            if exc.code == errors.NOT_FOUND:
                raise ApiError(
                    422,
                    "validation_failed",
                    f"QuickBooks customer {qb_customer_id} does not exist",
                    [field_error("qb_customer_id", "no such QuickBooks customer", "not_found")],
                ) from None
            raise ApiError(502, "quickbooks_error", str(exc)) from None
        except (errors.Transient, errors.Throttled) as exc:
            raise ApiError(503, "quickbooks_unavailable", str(exc)) from None
        customer = reply["Customer"]
        # Take the row over with a lease of our own (a worker holding it loses it: its outcome
        # is dropped), then write the outcome like the worker does.
        token = uuid.uuid4()
        await runtime.db.execute(
            """UPDATE push_mappings SET lease_owner = 'api', lease_token = $4,
                      lease_until = now() + interval '1 minute'
                WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
            tenant_id,
            row.realm_id,
            row.customer_id,
            token,
        )
        await push.pusher.finish(row, token, await push.pusher.linked_by_user(row, customer))

    async def settle_conflict(tenant_id: str, row: Mapping, keep: str) -> None:
        """keep=quickbooks: the platform's values of the conflicting fields count as reconciled,
        so they are not pushed (later platform changes are). keep=platform: those fields are
        pushed over what QuickBooks holds now (pushed_content, read when the conflict arose)."""
        snapshot = await load_snapshot(runtime.db, tenant_id, row.customer_id)
        wanted = fields.desired(snapshot) if snapshot else {}
        platform = dict(row.platform_content or {})
        conflict = row.conflict or {}
        per_field = {k: v for k, v in conflict.items() if isinstance(v, dict)}
        if per_field:
            for name in per_field:
                key = fields.PARENT_KEY if name in fields.PARENT_FIELDS else name
                if keep == "quickbooks":
                    if key in wanted:
                        platform[key] = wanted[key]
                    else:
                        platform.pop(key, None)
                else:
                    platform[key] = fields.FORCE_PUSH
            pushed_content = row.pushed_content
        else:
            # A conflict recorded without its fields (older rows): decide for the whole customer,
            # reading QuickBooks afresh on the next push.
            platform = dict(wanted) if keep == "quickbooks" else {}
            pushed_content = None
        await runtime.db.execute(
            """UPDATE push_mappings SET status = 'pending', due_at = now(), attempts = 0,
                      conflict = NULL, platform_content = $4::jsonb, pushed_hash = $5,
                      pushed_content = $6::jsonb, updated_at = now()
                WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
            tenant_id,
            row.realm_id,
            row.customer_id,
            json.dumps(platform),
            fields.content_hash(platform),
            json.dumps(pushed_content) if pushed_content is not None else None,
        )

    return router
