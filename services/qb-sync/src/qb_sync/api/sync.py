"""Sync status of pushed customers: list, one row, retry, resolve.

- `GET  /quickbooks/sync?status=&realm_id=&limit=`            rows of the caller's tenant
- `GET  /quickbooks/sync/{realm_id}/{customer_id}`            one row
- `GET  /quickbooks/sync/pauses`                              companies paused after a 429
  (until when, why); each row also carries its company's pause (`paused_until`, `pause_reason`):
  while it lasts, pending rows wait with no attempt counted
- `POST /quickbooks/sync/{realm_id}/{customer_id}/retry`      failed / needs_link -> pending now
- `POST /quickbooks/sync/{realm_id}/{customer_id}/resolve`
    needs_link: `{"qb_customer_id": "..."}` links that QuickBooks customer (how=linked_by_user),
      then the platform's values are pushed to it as a sparse update;
    conflict: `{"keep": "platform"}` pushes the platform's values of the conflicting fields over
      QuickBooks' ones, `{"keep": "quickbooks"}` leaves QuickBooks' values (the platform keeps
      its own; only its later changes are pushed).
The work is in usecases/sync_rows.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, StringConstraints

from qb_sync.api.deps import Reader, SyncRowsDep, Writer
from qb_sync.store.push.rows import Mapping
from qb_sync.store.realm_pauses import RealmPause

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
    paused_until: datetime | None = None  # the company is paused after a 429 until then
    pause_reason: str | None = None
    update_in_doubt: bool = False  # an update was sent whose answer never came

    @staticmethod
    def of(m: Mapping, pause: RealmPause | None = None) -> SyncRowOut:
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
            paused_until=pause.paused_until if pause else None,
            pause_reason=pause.reason if pause else None,
            update_in_doubt=bool(m.write_in_doubt),
        )


class PauseOut(BaseModel):
    realm_id: str
    paused_until: datetime
    reason: str
    paused_at: datetime


class PauseListOut(BaseModel):
    items: list[PauseOut]


class SyncListOut(BaseModel):
    items: list[SyncRowOut]


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    qb_customer_id: Id | None = None
    keep: Literal["platform", "quickbooks"] | None = None


router = APIRouter(tags=["quickbooks sync"])


@router.get("/quickbooks/sync")
async def list_sync_rows(
    principal: Reader,
    rows: SyncRowsDep,
    status: Status | None = None,
    realm_id: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> SyncListOut:
    found = await rows.list(principal.tenant_id, status, realm_id, limit)
    pauses = await rows.pauses(principal.tenant_id, sorted({m.realm_id for m in found}))
    return SyncListOut(items=[SyncRowOut.of(m, pauses.get(m.realm_id)) for m in found])


@router.get("/quickbooks/sync/pauses")
async def list_pauses(principal: Reader, rows: SyncRowsDep) -> PauseListOut:
    pauses = await rows.pauses(principal.tenant_id, None)
    return PauseListOut(
        items=[
            PauseOut(
                realm_id=p.realm_id,
                paused_until=p.paused_until,
                reason=p.reason,
                paused_at=p.paused_at,
            )
            for p in pauses.values()
        ]
    )


@router.get("/quickbooks/sync/{realm_id}/{customer_id}")
async def get_sync_row(
    realm_id: Id, customer_id: Id, principal: Reader, rows: SyncRowsDep
) -> SyncRowOut:
    row = await rows.one(principal.tenant_id, realm_id, customer_id)
    pauses = await rows.pauses(principal.tenant_id, [realm_id])
    return SyncRowOut.of(row, pauses.get(realm_id))


@router.post("/quickbooks/sync/{realm_id}/{customer_id}/retry", status_code=202)
async def retry_sync_row(
    realm_id: Id, customer_id: Id, principal: Writer, rows: SyncRowsDep
) -> SyncRowOut:
    return SyncRowOut.of(await rows.retry(principal.tenant_id, realm_id, customer_id))


@router.post("/quickbooks/sync/{realm_id}/{customer_id}/resolve")
async def resolve_sync_row(
    realm_id: Id, customer_id: Id, body: ResolveIn, principal: Writer, rows: SyncRowsDep
) -> SyncRowOut:
    row = await rows.resolve(
        principal.tenant_id, realm_id, customer_id, body.qb_customer_id, body.keep
    )
    return SyncRowOut.of(row)
