"""A tenant's QuickBooks Desktop connections: create one (its Web Connector password is shown
once, stored hashed), download its .qwc, queue a refresh from the company file."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from platform_kit.auth import Principal
from platform_kit.http import ApiError
from qb_sync.qbd.passwords import new_password
from qb_sync.qbd.queue import QbdConnection, connection_of_tenant, create_connection, enqueue_once
from qb_sync.qbd.qwc import render_qwc
from qb_sync.qbd.settings import qbd_settings

router = APIRouter(prefix="/quickbooks-desktop/connections", tags=["quickbooks-desktop"])


async def _admin(request: Request) -> Principal:
    principal: Principal = await request.app.state.runtime.auth.require("admin")(request)
    return principal


Admin = Annotated[Principal, Depends(_admin)]


class ConnectionCreated(BaseModel):
    connection_id: uuid.UUID
    username: str
    file_id: str
    password: str  # shown this once; only its hash is kept
    qwc_url: str


class ImportQueued(BaseModel):
    request_id: int


@router.post("", status_code=201)
async def create(request: Request, principal: Admin) -> ConnectionCreated:
    password = new_password()
    username = f"qbd-{secrets.token_hex(5)}"
    async with request.app.state.runtime.db.acquire() as conn:
        connection = await create_connection(
            conn, principal.tenant_id, username, password, qbd_settings().qbd_owner_id
        )
    return ConnectionCreated(
        connection_id=connection.connection_id,
        username=connection.username,
        file_id=connection.file_id,
        password=password,
        qwc_url=f"/quickbooks-desktop/connections/{connection.connection_id}/qwc",
    )


async def _own(request: Request, principal: Principal, connection_id: uuid.UUID) -> QbdConnection:
    async with request.app.state.runtime.db.acquire() as conn:
        connection = await connection_of_tenant(conn, principal.tenant_id, connection_id)
    if connection is None:
        raise ApiError(404, "not_found", "no such QuickBooks Desktop connection for this tenant")
    return connection


@router.get("/{connection_id}/qwc")
async def qwc(request: Request, principal: Admin, connection_id: uuid.UUID) -> Response:
    connection = await _own(request, principal, connection_id)
    return Response(
        render_qwc(connection, qbd_settings()),
        media_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{connection.username}.qwc"'},
    )


@router.post("/{connection_id}/refresh", status_code=202)
async def queue_refresh(
    request: Request, principal: Admin, connection_id: uuid.UUID
) -> ImportQueued:
    """Refresh from QuickBooks Desktop: the next Web Connector run reads the customers (all of
    them the first time, then what changed or was deleted since)."""
    connection = await _own(request, principal, connection_id)
    async with request.app.state.runtime.db.acquire() as conn:
        request_id = await enqueue_once(conn, connection.connection_id, "customer_changes")
    return ImportQueued(request_id=request_id)
