"""`StoredCredentials`: the gateway's `Credentials` backed by encrypted connection rows.

Refresh is single-flight per realm, in two layers:
- in this process, one asyncio lock per realm, so concurrent callers wait for one refresh;
- across processes, `SELECT ... FOR UPDATE` on the connection row, then a re-read: when the stored
  access token is no longer the one the caller saw rejected (or is fresh again), somebody else
  already refreshed and the caller simply gets the stored pair. Only otherwise is Intuit called.
The rotated refresh token is committed (encrypted) before the new access token is handed out, so
a crash after the commit never loses it. A refresh answered `invalid_grant` marks the connection
`reauth_required`: every later call fails fast with `ReauthRequired` until the user reconnects.
Access tokens are refreshed proactively when less than the margin (5 minutes) remains.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import asyncpg
from prometheus_client import Counter

from qb_sync.domain.tokens import Tokens
from qb_sync.qbo.errors import ReauthRequired, Transient
from qb_sync.qbo.intuit_oauth import IntuitOAuth, InvalidGrant, OAuthUnavailable
from qb_sync.store.connections import Connection, get_connection, set_status, store_refreshed
from qb_sync.store.token_cipher import TokenCipher

log = logging.getLogger(__name__)
TOKEN_REFRESHES = Counter(
    "qbsync_token_refreshes_total", "Calls to the token endpoint, by outcome", ["outcome"]
)


class StoredCredentials:
    def __init__(
        self,
        pool: asyncpg.Pool,
        cipher: TokenCipher,
        oauth: IntuitOAuth,
        *,
        refresh_margin: timedelta = timedelta(minutes=5),
    ) -> None:
        self.pool = pool
        self.cipher = cipher
        self.oauth = oauth
        self.refresh_margin = refresh_margin
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.refreshes = 0  # calls made to Intuit's token endpoint (for /metrics and tests)

    async def tokens(self, tenant_id: str, realm_id: str) -> Tokens:
        row = await get_connection(self.pool, self.cipher, tenant_id, realm_id)
        usable = self._usable(row, tenant_id, realm_id)
        if self._expiring(usable) and usable.refresh_token:
            return await self._refresh(tenant_id, realm_id, seen=usable.access_token)
        return _tokens_of(usable)

    async def refreshed(self, tenant_id: str, realm_id: str, rejected_access_token: str) -> Tokens:
        return await self._refresh(tenant_id, realm_id, seen=rejected_access_token, rejected=True)

    def _usable(self, row: Connection | None, tenant_id: str, realm_id: str) -> Connection:
        if row is None or row.status == "disconnected":
            raise ReauthRequired(f"realm {realm_id} is not connected for tenant {tenant_id}")
        if row.status == "reauth_required":
            raise ReauthRequired(f"realm {realm_id} needs to be reconnected: {row.last_error}")
        return row

    def _expiring(self, row: Connection) -> bool:
        expires = row.access_expires_at
        return expires is not None and expires - datetime.now(UTC) < self.refresh_margin

    async def _refresh(
        self, tenant_id: str, realm_id: str, *, seen: str, rejected: bool = False
    ) -> Tokens:
        lock = self._locks.setdefault((tenant_id, realm_id), asyncio.Lock())
        async with lock:
            dead: str | None = None
            async with self.pool.acquire() as conn, conn.transaction():
                row = self._usable(
                    await get_connection(conn, self.cipher, tenant_id, realm_id, for_update=True),
                    tenant_id,
                    realm_id,
                )
                if row.access_token != seen and not self._expiring(row):
                    return _tokens_of(row)  # someone else refreshed while we waited
                if not row.refresh_token:
                    dead = "no refresh token stored"
                else:
                    try:
                        self.refreshes += 1
                        grant = await self.oauth.refresh(row.refresh_token)
                    except InvalidGrant as exc:
                        TOKEN_REFRESHES.labels("invalid_grant").inc()
                        dead = f"invalid_grant: {exc}"[:500]
                    except OAuthUnavailable as exc:
                        TOKEN_REFRESHES.labels("unavailable").inc()
                        raise Transient(f"token refresh failed: {exc}") from exc
                    else:
                        TOKEN_REFRESHES.labels("ok").inc()
                        await store_refreshed(conn, self.cipher, tenant_id, realm_id, grant)
                        log.info(
                            "tokens refreshed",
                            extra={"realm_id": realm_id, "rejected": rejected},
                        )
                        return Tokens(
                            access_token=grant.access_token, expires_at=grant.access_expires_at
                        )
                if dead:
                    await set_status(conn, tenant_id, realm_id, "reauth_required", dead)
            log.warning("realm needs reconnecting", extra={"realm_id": realm_id, "reason": dead})
            raise ReauthRequired(f"realm {realm_id} needs to be reconnected: {dead}")


def _tokens_of(row: Connection) -> Tokens:
    return Tokens(access_token=row.access_token, expires_at=row.access_expires_at)
