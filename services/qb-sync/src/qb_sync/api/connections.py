"""Connect flow and connection list.

One flow for real QuickBooks and the emulator (they differ only in the discovery document):
`GET /quickbooks/connections/authorize` gives the authorization URL (with a one-time CSRF state
tied to the tenant); the consent page redirects the user's browser to
`GET .../callback?code&state&realmId`, which spends the state, exchanges the code for tokens and
connects the realm.

Emulator convenience: `POST /quickbooks/connections {realm_id}` runs that same flow server-side,
qb-sync playing the browser on the emulator's consent page (`IntuitOAuth.emulator_consent`) and
then completing it exactly as the callback does.
Connecting queues a full import; the request never waits for it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, StringConstraints

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

log = logging.getLogger(__name__)
REALM_PATTERN = r"^\w+$"
RealmId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=REALM_PATTERN),
]
STATE_TTL = timedelta(hours=1)


class ConnectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    realm_id: RealmId


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
        # Says nothing of who holds it: whether a company is connected elsewhere is not the
        # caller's to learn (docs/decisions/0014-api-shape.md). The log has the whole story.
        log.warning("realm %s refused for tenant %s: held by another tenant", realm_id, tenant_id)
        raise ApiError(
            409, "realm_unavailable", f"QuickBooks company {realm_id} cannot be connected here"
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

    async def start_authorization(tenant_id: str) -> tuple[str, str]:
        """(authorization URL, its one-time state), the state stored for the tenant."""
        state = secrets.token_urlsafe(24)
        await runtime.db.execute(
            "INSERT INTO qb_oauth_states (state, tenant_id) VALUES ($1, $2)", state, tenant_id
        )
        return await oauth.authorization_url(state), state

    async def spend_state(state: str) -> str | None:
        """The tenant that started this authorization; None if unknown, expired or used."""
        tenant_id = await runtime.db.fetchval(
            """DELETE FROM qb_oauth_states WHERE state = $1 AND created_at > now() - $2::interval
               RETURNING tenant_id""",
            state,
            STATE_TTL,
        )
        return None if tenant_id is None else str(tenant_id)

    async def finish_authorization(state: str, code: str, realm_id: str) -> str:
        """The callback's work: spend the state, exchange the code, store the tokens and queue
        the import. Returns the tenant. Nothing is exchanged without a valid state."""
        tenant_id = await spend_state(state)
        if tenant_id is None:
            raise ApiError(
                400,
                "bad_state",
                "unknown, expired or already used authorization state: start again at "
                "GET /quickbooks/connections/authorize",
            )
        try:
            grant = await oauth.exchange_code(code, realm_id)
        except InvalidGrant as exc:
            raise ApiError(400, "invalid_grant", f"authorization code refused: {exc}") from exc
        except OAuthUnavailable as exc:
            raise ApiError(502, "oauth_unavailable", str(exc)) from exc
        async with runtime.db.acquire() as conn, conn.transaction():
            await connect(conn, cipher, tenant_id, realm_id, grant)
        wake_puller()
        return tenant_id

    @router.post(
        "/quickbooks/connections",
        status_code=201,
        responses={
            409: {"description": "This company cannot be connected here"},
            502: {"description": "The consent page or QuickBooks' OAuth did not answer"},
        },
    )
    async def connect_emulator(body: ConnectIn, principal: Principal = admin) -> ConnectionOut:
        if settings.qbo_environment != "emulator":
            raise ApiError(
                409,
                "authorization_required",
                "real QuickBooks connects through GET /quickbooks/connections/authorize",
            )
        url, state = await start_authorization(principal.tenant_id)
        try:
            sent_back = await oauth.emulator_consent(url, body.realm_id)
        except OAuthUnavailable as exc:
            await spend_state(state)
            raise ApiError(502, "oauth_unavailable", str(exc)) from exc
        if (
            sent_back.get("state") != state
            or sent_back.get("realmId") != body.realm_id
            or not sent_back.get("code")
        ):
            await spend_state(state)
            refusal = sent_back.get("error_description") or sent_back.get("error") or "no code"
            raise ApiError(502, "authorization_refused", f"the consent page answered: {refusal}")
        await finish_authorization(state, sent_back["code"], body.realm_id)
        row = await get_connection(runtime.db, cipher, principal.tenant_id, body.realm_id)
        assert row is not None
        return connection_out(row)

    @router.get("/quickbooks/connections")
    async def list_all(principal: Principal = reader) -> dict[str, list[ConnectionOut]]:
        rows = await list_connections(runtime.db, cipher, principal.tenant_id)
        return {"connections": [connection_out(c) for c in rows]}

    @router.get("/quickbooks/connections/authorize")
    async def authorize(principal: Principal = admin) -> dict[str, str]:
        url, state = await start_authorization(principal.tenant_id)
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
        state: Annotated[str, Query(min_length=1)],
        code: Annotated[str | None, Query(min_length=1)] = None,
        realm_id: Annotated[
            str | None, Query(alias="realmId", min_length=1, max_length=64, pattern=REALM_PATTERN)
        ] = None,
        error: Annotated[str | None, Query(max_length=200)] = None,
    ) -> dict[str, Any]:
        # No bearer here: the consent page redirects the user's browser. The state is the proof.
        if error is not None:  # the user pressed Cancel, or the request was refused
            await spend_state(state)
            raise ApiError(400, "authorization_refused", f"QuickBooks answered {error}")
        if code is None or realm_id is None:
            raise ApiError(400, "invalid_callback", "the callback needs code, state and realmId")
        await finish_authorization(state, code, realm_id)
        return {"realm_id": realm_id, "status": "connected"}

    @router.delete("/quickbooks/connections/{realm_id}")
    async def disconnect(realm_id: RealmId, principal: Principal = admin) -> dict[str, str]:
        if not await set_status(runtime.db, principal.tenant_id, realm_id, "disconnected"):
            raise ApiError(404, "not_found", f"QuickBooks company {realm_id} is not connected")
        return {"realm_id": realm_id, "status": "disconnected"}

    return router
