"""The OAuth 2.0 side of a connection, through intuit-oauth's `AuthClient`
(docs/reference/quickbooks-online.md#oauth-tokens).

`AuthClient` is a blocking `requests.Session` whose constructor fetches the discovery document, and
it keeps the tokens it receives as attributes. So every operation builds its own client (refreshes
are rare: about one per realm per hour) and runs in a worker thread, never on the event loop, with
a timeout on every HTTP call (intuit-oauth passes none).

In emulator mode the discovery document is the emulator's, so the authorization URL, the code
exchange and refreshes go to the emulator exactly as they would go to Intuit. Only
`emulator_consent` is emulator-specific: it plays the user's browser on the emulator's consent
page (which connects at once) and returns what the page redirects to qb-sync's callback with.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError

from qb_sync.domain.tokens import Grant
from qb_sync.settings import Settings

HTTP_TIMEOUT = (5.0, 30.0)  # connect, read


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
    # "sandbox" | "production", lower case
    # (docs/reference/quickbooks-online.md#building-the-client-and-its-base-url)
    return settings.qbo_environment


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

    async def emulator_consent(self, authorization_url: str, realm_id: str) -> dict[str, str]:
        """Emulator only: open the consent page at `authorization_url` as the user's browser
        would, connecting company `realm_id`, and return the query of its redirect to our
        callback (`code`, `state`, `realmId`, or `error`)."""
        if self.settings.qbo_environment != "emulator":
            raise RuntimeError("only the emulator's consent page connects without a user")
        url = authorization_url + "&" + urlencode({"realm_id": realm_id})
        callback = urlsplit(self.settings.qbo_redirect_uri)

        def run() -> dict[str, str]:
            reply = requests.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
            target = urlsplit(reply.headers.get("location", ""))
            if reply.status_code not in (302, 303) or not target.netloc:
                raise OAuthUnavailable(
                    f"the consent page answered {reply.status_code}: {reply.text[:300]}"
                )
            if (target.scheme, target.netloc, target.path) != (
                callback.scheme,
                callback.netloc,
                callback.path,
            ):
                raise OAuthUnavailable("the consent page redirected somewhere else than ours")
            return dict(parse_qsl(target.query))

        try:
            return await asyncio.to_thread(run)
        except OSError as exc:  # requests' ConnectionError/Timeout are OSErrors
            raise OAuthUnavailable(str(exc)) from exc

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
