"""Connect flow and connection list (the flow itself: usecases/connect_company.py).

- `GET    /quickbooks/connections/authorize`  the authorization URL, with a one-time state
- `GET    /quickbooks/connections/callback?code&state&realmId`  where the consent page sends the
  user's browser; no bearer token: the state is the proof
- `POST   /quickbooks/connections {realm_id}` emulator only: the same flow run server-side
- `GET    /quickbooks/connections`            the tenant's connections
- `DELETE /quickbooks/connections/{realm_id}` disconnect
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, StringConstraints

from platform_kit.http import ApiError
from qb_sync.api.deps import Admin, ConnectionsDep, Reader
from qb_sync.store.connections import Connection

REALM_PATTERN = r"^\w+$"
RealmId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=REALM_PATTERN),
]


class ConnectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    realm_id: RealmId


class ConnectionOut(BaseModel):
    realm_id: str
    status: str
    access_expires_at: datetime | None
    connected_at: datetime
    last_error: str | None

    @staticmethod
    def of(c: Connection) -> ConnectionOut:
        return ConnectionOut(
            realm_id=c.realm_id,
            status=c.status,
            access_expires_at=c.access_expires_at,
            connected_at=c.connected_at,
            last_error=c.last_error,
        )


router = APIRouter(tags=["quickbooks connections"])


@router.post(
    "/quickbooks/connections",
    status_code=201,
    responses={
        409: {"description": "This company cannot be connected here"},
        502: {"description": "The consent page or QuickBooks' OAuth did not answer"},
    },
)
async def connect_emulator(
    body: ConnectIn, principal: Admin, connections: ConnectionsDep
) -> ConnectionOut:
    return ConnectionOut.of(await connections.connect_emulator(principal.tenant_id, body.realm_id))


@router.get("/quickbooks/connections")
async def list_connections(
    principal: Reader, connections: ConnectionsDep
) -> dict[str, list[ConnectionOut]]:
    rows = await connections.list(principal.tenant_id)
    return {"connections": [ConnectionOut.of(c) for c in rows]}


@router.get("/quickbooks/connections/authorize")
async def authorize(principal: Admin, connections: ConnectionsDep) -> dict[str, str]:
    url, state = await connections.start_authorization(principal.tenant_id)
    return {"authorization_url": url, "state": state}


@router.get(
    "/quickbooks/connections/callback",
    responses={
        400: {"description": "Refused, expired or incomplete authorization"},
        409: {"description": "This company cannot be connected here"},
        502: {"description": "QuickBooks' OAuth service did not answer"},
    },
)
async def callback(
    connections: ConnectionsDep,
    state: Annotated[str, Query(min_length=1)],
    code: Annotated[str | None, Query(min_length=1)] = None,
    realm_id: Annotated[
        str | None, Query(alias="realmId", min_length=1, max_length=64, pattern=REALM_PATTERN)
    ] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    if error is not None:
        await connections.refuse_callback(state, error)
    if code is None or realm_id is None:
        raise ApiError(400, "invalid_callback", "the callback needs code, state and realmId")
    await connections.finish_authorization(state, code, realm_id)
    return {"realm_id": realm_id, "status": "connected"}


@router.delete("/quickbooks/connections/{realm_id}")
async def disconnect(
    realm_id: RealmId, principal: Admin, connections: ConnectionsDep
) -> dict[str, str]:
    await connections.disconnect(principal.tenant_id, realm_id)
    return {"realm_id": realm_id, "status": "disconnected"}
