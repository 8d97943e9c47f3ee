"""The OAuth 2.0 side of a connection, through intuit-oauth's `AuthClient` (qbo.md 1.2, 6).

`AuthClient` is a blocking `requests.Session` whose constructor fetches the discovery document, and
it keeps the tokens it receives as attributes. So every operation builds its own client (refreshes
are rare: about one per realm per hour) and runs in a worker thread, never on the event loop, with
a timeout on every HTTP call (intuit-oauth passes none).

In emulator mode the discovery document is the emulator's, so refreshes hit the emulator's token
endpoint exactly as they would hit Intuit's. The emulator has no consent screen: connecting asks
its control API to authorize the company and issue a token pair (`emulator_consent`, what the
user's "Connect" at Intuit plus the code exchange amount to), so the platform only ever holds
tokens the emulator issued and refreshes them through the token endpoint, never a placeholder.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError

from qb_sync.settings import Settings

HTTP_TIMEOUT = (5.0, 30.0)  # connect, read


@dataclass(frozen=True)
class Grant:
    access_token: str
    refresh_token: str | None
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None


class InvalidGrant(Exception):
    """The refresh token (or authorization code) is dead: only the user can reconnect."""


class OAuthUnavailable(Exception):
    """The token endpoint failed in a way a later retry may fix (5xx, timeout, network)."""


class _TimedAuthClient(AuthClient):  # type: ignore[misc]
    def request(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return super().request(*args, **kwargs)


def discovery_for(settings: Settings) -> str:
    if settings.qbo_environment == "emulator":
        return settings.qbo_base_url.rstrip("/") + "/.well-known/openid_configuration"
    return settings.qbo_environment  # "sandbox" | "production", lower case (qbo.md 1.2)


class IntuitOAuth:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _client(self, **tokens: Any) -> AuthClient:
        return _TimedAuthClient(
            self.settings.qbo_client_id,
            self.settings.qbo_client_secret,
            self.settings.qbo_redirect_uri,
            discovery_for(self.settings),
            **tokens,
        )

    async def authorization_url(self, state: str) -> str:
        def build() -> str:
            return str(self._client().get_authorization_url([Scopes.ACCOUNTING], state_token=state))

        return await asyncio.to_thread(build)

    async def exchange_code(self, code: str, realm_id: str) -> Grant:
        def run() -> Grant:
            client = self._client()
            client.get_bearer_token(code, realm_id=realm_id)
            return _grant_of(client)

        return await self._call(run)

    async def emulator_consent(self, realm_id: str) -> Grant:
        """Emulator only: the company authorizes this app and a fresh token pair is issued."""
        if self.settings.qbo_environment != "emulator":
            raise RuntimeError("only the emulator grants tokens without the user's consent")
        url = self.settings.qbo_base_url.rstrip("/") + "/_admin/realms"

        def run() -> Grant:
            reply = requests.post(url, json={"realm_id": realm_id}, timeout=HTTP_TIMEOUT)
            if reply.status_code != 200:
                raise OAuthUnavailable(f"the emulator answered {reply.status_code}: {reply.text}")
            issued = reply.json()
            now = datetime.now(UTC)
            return Grant(
                access_token=issued["access_token"],
                refresh_token=issued["refresh_token"],
                access_expires_at=now + timedelta(seconds=int(issued["expires_in"])),
                refresh_expires_at=now
                + timedelta(seconds=int(issued["x_refresh_token_expires_in"])),
            )

        return await self._call(run)

    async def refresh(self, refresh_token: str) -> Grant:
        def run() -> Grant:
            client = self._client(refresh_token=refresh_token)
            client.refresh(refresh_token=refresh_token)
            return _grant_of(client)

        return await self._call(run)

    async def _call(self, fn: Any) -> Grant:
        try:
            return await asyncio.to_thread(fn)  # type: ignore[no-any-return]
        except AuthClientError as exc:
            body = exc.content.decode(errors="replace") if isinstance(exc.content, bytes) else ""
            if exc.status_code in (400, 401) and (
                "invalid_grant" in body or "invalid_client" in body
            ):
                raise InvalidGrant(body) from exc
            raise OAuthUnavailable(f"token endpoint answered {exc.status_code}: {body}") from exc
        except OSError as exc:  # requests' ConnectionError/Timeout are OSErrors
            raise OAuthUnavailable(str(exc)) from exc


def _grant_of(client: AuthClient) -> Grant:
    now = datetime.now(UTC)
    return Grant(
        access_token=client.access_token,
        refresh_token=client.refresh_token,
        access_expires_at=now + timedelta(seconds=int(client.expires_in))
        if client.expires_in
        else None,
        refresh_expires_at=now + timedelta(seconds=int(client.x_refresh_token_expires_in))
        if client.x_refresh_token_expires_in
        else None,
    )
