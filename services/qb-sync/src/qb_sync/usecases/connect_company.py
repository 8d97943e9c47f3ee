"""Connecting a QuickBooks company to a tenant, and disconnecting it.

One flow for real QuickBooks and the emulator (they differ only in the discovery document):
`start_authorization` gives the authorization URL with a one-time CSRF state tied to the tenant;
the consent page sends the user's browser back with `code`, `state` and `realmId`, and
`finish_authorization` spends the state, exchanges the code for tokens and connects the realm.
`connect_emulator` runs that same flow server-side, qb-sync playing the browser on the
emulator's consent page. Connecting queues a full import; nothing waits for it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import NoReturn

import asyncpg

from qb_sync.domain.errors import BadRequest, Conflict, NotFound, UpstreamFailed
from qb_sync.domain.tokens import Grant
from qb_sync.qbo.intuit_oauth import IntuitOAuth, InvalidGrant, OAuthUnavailable
from qb_sync.settings import Settings
from qb_sync.store import oauth_states
from qb_sync.store.connections import (
    Connection,
    RealmTaken,
    get_connection,
    list_connections,
    save_connection,
    set_status,
)
from qb_sync.store.pull_state import request_import
from qb_sync.store.push.intent import due_after_reconnect
from qb_sync.store.token_cipher import TokenCipher

log = logging.getLogger(__name__)
STATE_TTL = timedelta(hours=1)


async def connect(
    conn: asyncpg.Connection, cipher: TokenCipher, tenant_id: str, realm_id: str, grant: Grant
) -> None:
    """Store the tokens and queue the full import, in one transaction. Rows that waited for the
    company to be reconnected are due again at once."""
    try:
        await save_connection(conn, cipher, tenant_id, realm_id, grant)
    except RealmTaken:
        # Says nothing of who holds it: whether a company is connected elsewhere is not the
        # caller's to learn (docs/decisions/0015-api-shape.md). The log has the whole story.
        log.warning("realm %s refused for tenant %s: held by another tenant", realm_id, tenant_id)
        raise Conflict(
            "realm_unavailable", f"QuickBooks company {realm_id} cannot be connected here"
        ) from None
    await request_import(conn, tenant_id, realm_id)
    await due_after_reconnect(conn, tenant_id, realm_id)


@dataclass
class Connections:
    db: asyncpg.Pool
    settings: Settings
    cipher: TokenCipher
    oauth: IntuitOAuth
    wake_puller: Callable[[], None]

    async def start_authorization(self, tenant_id: str) -> tuple[str, str]:
        """(authorization URL, its one-time state), the state stored for the tenant."""
        state = secrets.token_urlsafe(24)
        await oauth_states.remember_state(self.db, state, tenant_id)
        return await self.oauth.authorization_url(state), state

    async def spend_state(self, state: str) -> str | None:
        """The tenant that started this authorization; None if unknown, expired or used."""
        return await oauth_states.spend_state(self.db, state, STATE_TTL)

    async def finish_authorization(self, state: str, code: str, realm_id: str) -> str:
        """The callback's work: spend the state, exchange the code, store the tokens and queue
        the import. Returns the tenant. Nothing is exchanged without a valid state."""
        tenant_id = await self.spend_state(state)
        if tenant_id is None:
            raise BadRequest(
                "bad_state",
                "unknown, expired or already used authorization state: start again at "
                "GET /quickbooks/connections/authorize",
            )
        try:
            grant = await self.oauth.exchange_code(code, realm_id)
        except InvalidGrant as exc:
            raise BadRequest("invalid_grant", f"authorization code refused: {exc}") from exc
        except OAuthUnavailable as exc:
            raise UpstreamFailed("oauth_unavailable", str(exc)) from exc
        async with self.db.acquire() as conn, conn.transaction():
            await connect(conn, self.cipher, tenant_id, realm_id, grant)
        self.wake_puller()
        return tenant_id

    async def refuse_callback(self, state: str, error: str) -> NoReturn:
        """The user pressed Cancel, or the request was refused: the state is spent."""
        await self.spend_state(state)
        raise BadRequest("authorization_refused", f"QuickBooks answered {error}")

    async def connect_emulator(self, tenant_id: str, realm_id: str) -> Connection:
        if self.settings.qbo_environment != "emulator":
            raise Conflict(
                "authorization_required",
                "real QuickBooks connects through GET /quickbooks/connections/authorize",
            )
        url, state = await self.start_authorization(tenant_id)
        try:
            sent_back = await self.oauth.emulator_consent(url, realm_id)
        except OAuthUnavailable as exc:
            await self.spend_state(state)
            raise UpstreamFailed("oauth_unavailable", str(exc)) from exc
        if (
            sent_back.get("state") != state
            or sent_back.get("realmId") != realm_id
            or not sent_back.get("code")
        ):
            await self.spend_state(state)
            refusal = sent_back.get("error_description") or sent_back.get("error") or "no code"
            raise UpstreamFailed("authorization_refused", f"the consent page answered: {refusal}")
        await self.finish_authorization(state, sent_back["code"], realm_id)
        row = await get_connection(self.db, self.cipher, tenant_id, realm_id)
        assert row is not None
        return row

    async def list(self, tenant_id: str) -> list[Connection]:
        return await list_connections(self.db, self.cipher, tenant_id)

    async def disconnect(self, tenant_id: str, realm_id: str) -> None:
        if not await set_status(self.db, tenant_id, realm_id, "disconnected"):
            raise NotFound(f"QuickBooks company {realm_id} is not connected")
