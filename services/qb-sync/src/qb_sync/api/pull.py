"""`POST /quickbooks/connections/{realm}/refresh` (queue a full import) and the pull status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, StringConstraints

from qb_sync.api.deps import PullRequestsDep, Reader, Writer

RealmId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class PullStatusOut(BaseModel):
    realm_id: str
    import_pending: bool
    import_seen: int
    import_finished_at: datetime | None
    cdc_watermark: datetime | None
    cdc_last_run_at: datetime | None
    last_error: str | None


router = APIRouter(tags=["quickbooks pull"])


@router.post("/quickbooks/connections/{realm_id}/refresh", status_code=202)
async def refresh(realm_id: RealmId, principal: Writer, pull: PullRequestsDep) -> dict[str, str]:
    await pull.refresh(principal.tenant_id, realm_id)
    return {"realm_id": realm_id, "import": "queued"}


@router.get("/quickbooks/connections/{realm_id}/pull")
async def pull_status(realm_id: RealmId, principal: Reader, pull: PullRequestsDep) -> PullStatusOut:
    state = await pull.status(principal.tenant_id, realm_id)
    return PullStatusOut(
        realm_id=realm_id,
        import_pending=state.import_requested_at is not None,
        import_seen=state.import_seen,
        import_finished_at=state.import_finished_at,
        cdc_watermark=state.cdc_watermark,
        cdc_last_run_at=state.cdc_last_run_at,
        last_error=state.last_error,
    )
