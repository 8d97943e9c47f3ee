"""`POST /quickbooks/connections/{realm}/refresh` (queue a full import) and the pull status."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, StringConstraints

from platform_kit.auth import Principal
from platform_kit.http import ApiError
from platform_kit.runtime import ServiceRuntime
from qb_sync.pull.state import get_state, request_import

RealmId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class PullStatusOut(BaseModel):
    realm_id: str
    import_pending: bool
    import_seen: int
    import_finished_at: datetime | None
    cdc_watermark: datetime | None
    cdc_last_run_at: datetime | None
    last_error: str | None


def pull_routes(runtime: ServiceRuntime, wake_puller: Callable[[], None]) -> APIRouter:
    router = APIRouter(tags=["quickbooks pull"])
    writer = Depends(runtime.auth.require("write"))
    reader = Depends(runtime.auth.require("read"))

    async def require_connected(tenant_id: str, realm_id: str) -> None:
        status = await runtime.db.fetchval(
            "SELECT status FROM qb_connections WHERE tenant_id = $1 AND realm_id = $2",
            tenant_id,
            realm_id,
        )
        if status is None or status == "disconnected":
            raise ApiError(404, "not_found", f"QuickBooks company {realm_id} is not connected")
        if status != "connected":
            raise ApiError(409, status, f"QuickBooks company {realm_id} must be reconnected")

    @router.post("/quickbooks/connections/{realm_id}/refresh", status_code=202)
    async def refresh(realm_id: RealmId, principal: Principal = writer) -> dict[str, str]:
        await require_connected(principal.tenant_id, realm_id)
        await request_import(runtime.db, principal.tenant_id, realm_id)
        wake_puller()
        return {"realm_id": realm_id, "import": "queued"}

    @router.get("/quickbooks/connections/{realm_id}/pull")
    async def status(realm_id: RealmId, principal: Principal = reader) -> PullStatusOut:
        state = await get_state(runtime.db, principal.tenant_id, realm_id)
        if state is None:
            raise ApiError(404, "not_found", f"QuickBooks company {realm_id} is not connected")
        return PullStatusOut(
            realm_id=realm_id,
            import_pending=state.import_requested_at is not None,
            import_seen=state.import_seen,
            import_finished_at=state.import_finished_at,
            cdc_watermark=state.cdc_watermark,
            cdc_last_run_at=state.cdc_last_run_at,
            last_error=state.last_error,
        )

    return router
