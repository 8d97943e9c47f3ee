"""Connect flow and connection list.

- Real QuickBooks: `GET /quickbooks/connections/authorize` gives Intuit's authorization URL (with a
  CSRF state tied to the tenant); Intuit redirects the user to `GET .../callback?code&state&realmId`,
  which exchanges the code for tokens and connects the realm.
- Emulator (the default environment): `POST /quickbooks/connections {realm_id}` connects directly:
  the emulator authorizes the company and issues a token pair (`IntuitOAuth.emulator_consent`),
  refreshed later through its token endpoint like Intuit's. Tokens may be passed instead (ones
  the emulator issued, e.g. by a test).
Connecting queues a full import; the request never waits for it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from platform_kit.auth import Principal
from platform_kit.http import ApiError
from platform_kit.runtime import ServiceRuntime
from qb_sync.connections.crypto import TokenCipher
from qb_sync.connections.oauth import Grant, IntuitOAuth, InvalidGrant, OAuthUnavailable
from qb_sync.connections.store import (
    Connection,
    RealmTaken,
    get_connection,
    list_connections,
    save_connection,
    set_status,
)
from qb_sync.pull.state import request_import
from qb_sync.settings import Settings

RealmId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^\w+$")
]
STATE_TTL = timedelta(hours=1)


class ConnectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    realm_id: RealmId
    access_token: str | None = Field(default=None, min_length=1)
    refresh_token: str | None = Field(default=None, min_length=1)
    expires_in: int | None = Field(default=None, ge=1, description="access token lifetime, s")


class ConnectionOut(BaseModel):
    realm_id: str
    status: str
    access_expires_at: datetime | None
    connected_at: datetime
    last_error: str | None


def connection_out(c: Connection) -> ConnectionOut:
    return ConnectionOut(
        realm_id=c.realm_id,
        status=c.status,
        access_expires_at=c.access_expires_at,
        connected_at=c.connected_at,
        last_error=c.last_error,
    )


async def connect(
    conn: asyncpg.Connection, cipher: TokenCipher, tenant_id: str, realm_id: str, grant: Grant
) -> None:
    """Store the tokens and queue the full import, in one transaction. Rows that waited for the
    company to be reconnected are due again at once."""
    try:
        await save_connection(conn, cipher, tenant_id, realm_id, grant)
    except RealmTaken:
        raise ApiError(
            409, "realm_taken", f"QuickBooks company {realm_id} is connected to another tenant"
        ) from None
    await request_import(conn, tenant_id, realm_id)
    await conn.execute(
        """UPDATE push_mappings SET due_at = now(), updated_at = now()
            WHERE tenant_id = $1 AND realm_id = $2 AND status = 'pending'
              AND last_error_code = 'reauth_required'""",
        tenant_id,
        realm_id,
    )


def connection_routes(
    runtime: ServiceRuntime,
    settings: Settings,
    cipher: TokenCipher,
    oauth: IntuitOAuth,
    wake_puller: Callable[[], None],
) -> APIRouter:
    router = APIRouter(tags=["quickbooks connections"])
    admin = Depends(runtime.auth.require("admin"))
    reader = Depends(runtime.auth.require("read"))

    @router.post("/quickbooks/connections", status_code=201)
    async def connect_emulator(body: ConnectIn, principal: Principal = admin) -> ConnectionOut:
        if settings.qbo_environment != "emulator":
            raise ApiError(
                409,
                "authorization_required",
                "real QuickBooks connects through GET /quickbooks/connections/authorize",
            )
        if body.access_token is None:
            try:
                grant = await oauth.emulator_consent(body.realm_id)
            except OAuthUnavailable as exc:
                raise ApiError(502, "oauth_unavailable", str(exc)) from exc
        else:
            expires = (
                datetime.now(UTC) + timedelta(seconds=body.expires_in) if body.expires_in else None
            )
            grant = Grant(
                access_token=body.access_token,
                refresh_token=body.refresh_token,
                access_expires_at=expires,
                refresh_expires_at=None,
            )
        async with runtime.db.acquire() as conn, conn.transaction():
            await connect(conn, cipher, principal.tenant_id, body.realm_id, grant)
            row = await get_connection(conn, cipher, principal.tenant_id, body.realm_id)
        wake_puller()
        assert row is not None
        return connection_out(row)

    @router.get("/quickbooks/connections")
    async def list_all(principal: Principal = reader) -> dict[str, list[ConnectionOut]]:
        rows = await list_connections(runtime.db, cipher, principal.tenant_id)
        return {"connections": [connection_out(c) for c in rows]}

    @router.get("/quickbooks/connections/authorize")
    async def authorize(principal: Principal = admin) -> dict[str, str]:
        state = secrets.token_urlsafe(24)
        await runtime.db.execute(
            "INSERT INTO qb_oauth_states (state, tenant_id) VALUES ($1, $2)",
            state,
            principal.tenant_id,
        )
        return {"authorization_url": await oauth.authorization_url(state), "state": state}

    @router.get("/quickbooks/connections/callback")
    async def callback(
        code: Annotated[str, Query(min_length=1)],
        state: Annotated[str, Query(min_length=1)],
        realm_id: Annotated[str, Query(alias="realmId", min_length=1, max_length=64)],
    ) -> dict[str, Any]:
        # No bearer here: Intuit redirects the user's browser. The one-time state is the proof.
        tenant_id = await runtime.db.fetchval(
            """DELETE FROM qb_oauth_states WHERE state = $1 AND created_at > now() - $2::interval
               RETURNING tenant_id""",
            state,
            STATE_TTL,
        )
        if tenant_id is None:
            raise ApiError(400, "bad_state", "unknown or expired authorization state")
        try:
            grant = await oauth.exchange_code(code, realm_id)
        except InvalidGrant as exc:
            raise ApiError(400, "invalid_grant", f"authorization code refused: {exc}") from exc
        except OAuthUnavailable as exc:
            raise ApiError(502, "oauth_unavailable", str(exc)) from exc
        async with runtime.db.acquire() as conn, conn.transaction():
            await connect(conn, cipher, tenant_id, realm_id, grant)
        wake_puller()
        return {"realm_id": realm_id, "status": "connected"}

    @router.delete("/quickbooks/connections/{realm_id}")
    async def disconnect(realm_id: RealmId, principal: Principal = admin) -> dict[str, str]:
        if not await set_status(runtime.db, principal.tenant_id, realm_id, "disconnected"):
            raise ApiError(404, "not_found", f"QuickBooks company {realm_id} is not connected")
        return {"realm_id": realm_id, "status": "disconnected"}

    return router
