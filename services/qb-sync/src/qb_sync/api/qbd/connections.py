"""A tenant's QuickBooks Desktop connections: create one (its Web Connector password is shown
once, stored hashed), list them with their Web Connector state, download one's .qwc, queue a
refresh from the company file."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from platform_kit.auth import Principal
from platform_kit.deps import Admin  # declares the bearer scheme: the OpenAPI entry promises 401
from platform_kit.http import ApiError
from qb_sync.domain.qbd.qwc import render_qwc
from qb_sync.domain.qbd.records import QbdConnection
from qb_sync.settings import qbd_settings
from qb_sync.usecases.qbd.desktop_connections import DesktopConnections

router = APIRouter(prefix="/quickbooks-desktop/connections", tags=["quickbooks-desktop"])


def _connections(request: Request) -> DesktopConnections:
    return DesktopConnections(request.app.state.runtime.db)


Connections = Annotated[DesktopConnections, Depends(_connections)]


class ConnectionCreated(BaseModel):
    connection_id: uuid.UUID
    username: str
    file_id: str
    password: str  # shown this once; only its hash is kept
    qwc_url: str


class SessionOut(BaseModel):
    """The newest Web Connector session: when it started and was last heard from, whether it is
    still open, and the error it ended with ("" when none)."""

    started_at: datetime
    last_seen_at: datetime
    status: str
    last_error: str


class RequestCounts(BaseModel):
    queued: int
    uncertain: int  # a push sent and never answered: it may have been written
    failed: int


class ConnectionOut(BaseModel):
    connection_id: uuid.UUID
    username: str
    file_id: str
    company_file: str  # "" until the Web Connector has opened the file
    created_at: datetime
    last_session: SessionOut | None  # None: the Web Connector never called
    requests: RequestCounts


class ConnectionsOut(BaseModel):
    connections: list[ConnectionOut]


class ImportQueued(BaseModel):
    request_id: int


@router.post("", status_code=201)
async def create(principal: Admin, connections: Connections) -> ConnectionCreated:
    connection, password = await connections.create(
        principal.tenant_id, qbd_settings().qbd_owner_id
    )
    return ConnectionCreated(
        connection_id=connection.connection_id,
        username=connection.username,
        file_id=connection.file_id,
        password=password,
        qwc_url=f"/quickbooks-desktop/connections/{connection.connection_id}/qwc",
    )


@router.get("")
async def list_connections(principal: Admin, connections: Connections) -> ConnectionsOut:
    """The tenant's Desktop connections, oldest first (never a password or its hash)."""
    return ConnectionsOut(
        connections=[
            ConnectionOut(
                connection_id=c.connection_id,
                username=c.username,
                file_id=c.file_id,
                company_file=c.company_file,
                created_at=c.created_at,
                last_session=None
                if c.last_session_at is None or c.last_seen_at is None or c.session_status is None
                else SessionOut(
                    started_at=c.last_session_at,
                    last_seen_at=c.last_seen_at,
                    status=c.session_status,
                    last_error=c.last_error,
                ),
                requests=RequestCounts(queued=c.queued, uncertain=c.uncertain, failed=c.failed),
            )
            for c in await connections.overview(principal.tenant_id)
        ]
    )


async def _own(
    connections: DesktopConnections, principal: Principal, connection_id: uuid.UUID
) -> QbdConnection:
    connection = await connections.of_tenant(principal.tenant_id, connection_id)
    if connection is None:
        raise ApiError(404, "not_found", "no such QuickBooks Desktop connection for this tenant")
    return connection


@router.get(
    "/{connection_id}/qwc",
    response_class=Response,
    responses={200: {"description": "The .qwc file", "content": {"application/xml": {}}}},
)
async def qwc(principal: Admin, connections: Connections, connection_id: uuid.UUID) -> Response:
    connection = await _own(connections, principal, connection_id)
    return Response(
        render_qwc(connection, qbd_settings()),
        media_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{connection.username}.qwc"'},
    )


@router.post("/{connection_id}/refresh", status_code=202)
async def queue_refresh(
    principal: Admin, connections: Connections, connection_id: uuid.UUID
) -> ImportQueued:
    """Refresh from QuickBooks Desktop: the next Web Connector run reads the customers (all of
    them the first time, then what changed or was deleted since)."""
    connection = await _own(connections, principal, connection_id)
    return ImportQueued(request_id=await connections.queue_refresh(connection))
