"""The OAuth use cases behind oauth.py's routes: the consent page, the token endpoint (code
exchange and refresh) and revocation.

The consent page is Intuit's with the user's "Connect" pressed at once: it checks the request,
picks the company (`realm_id` query parameter, else the `default_realm_id` setting, else a new
company) and redirects to `redirect_uri` with `code`, `state` and `realmId`. As at Intuit (and
RFC 6749 4.1.2.1), an unknown client_id or an unregistered redirect_uri is answered on the page
itself (400, no redirect); the other bad input goes back to the app as `error=...&state=...`.
`consent=deny` stands for the user pressing Cancel (`error=access_denied`).
Every answer carries an `intuit_tid` header, as Intuit's do.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Response
from fastapi.responses import JSONResponse, RedirectResponse

from qbo_emulator.emulator import Emulator
from qbo_emulator.tokens import CodeRefused
from qbo_emulator.wire import tid_header

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
# intuitlib.enums.Scopes: what Intuit knows. Only the accounting API is emulated, so it must be
# among the scopes asked for.
KNOWN_SCOPES = {
    ACCOUNTING_SCOPE,
    "com.intuit.quickbooks.payment",
    "openid",
    "profile",
    "email",
    "phone",
    "address",
}
REALM_ID = re.compile(r"^\w{1,64}$")
# intuit-oauth 1.2.7 asks for the grant's five-year end with this header.
HARD_EXPIRY_HEADER = "x-include-refresh-token-hard-expires-in"


def discovery(base: str, authorize: str, token: str, revoke: str) -> dict[str, Any]:
    return {
        "issuer": "https://oauth.platform.intuit.com/op/v1",
        "authorization_endpoint": f"{base}{authorize}",
        "token_endpoint": f"{base}{token}",
        "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
        "revocation_endpoint": f"{base}{revoke}",
        "jwks_uri": f"{base}/oauth2/v1/keys",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
    }


def basic_ok(emu: Emulator, header: str) -> bool:
    if not header.lower().startswith("basic "):
        return False
    try:
        client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return False
    return client_id == emu.settings.client_id and secret == emu.settings.client_secret


def _redirect_ok(emu: Emulator, uri: str) -> bool:
    registered = emu.settings.redirect_uris
    if registered is not None:
        return uri in registered
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


def _json(payload: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status, headers=tid_header())


def oauth_error(status: int, error: str, description: str | None = None) -> JSONResponse:
    body = {"error": error}
    if description is not None:
        body["error_description"] = description
    return _json(body, status)


def _back_to_app(redirect_uri: str, **params: str | None) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return RedirectResponse(
        redirect_uri + ("&" if "?" in redirect_uri else "?") + query,
        status_code=302,
        headers=tid_header(),
    )


def authorize(emu: Emulator, query: Mapping[str, str]) -> Response:
    """The consent page: a redirect back to the app with a code, or with the error."""
    if query.get("client_id") != emu.settings.client_id:
        return oauth_error(400, "invalid_client", "Unknown client_id")
    redirect_uri = query.get("redirect_uri", "")
    if not _redirect_ok(emu, redirect_uri):
        return oauth_error(400, "invalid_request", "redirect_uri is not registered for this app")
    state = query.get("state") or None

    def refuse(error: str, description: str) -> RedirectResponse:
        emu.store.counters["authorizations_refused"] += 1
        return _back_to_app(redirect_uri, error=error, error_description=description, state=state)

    if query.get("response_type") != "code":
        return refuse("unsupported_response_type", "response_type must be code")
    scopes = set(query.get("scope", "").split())
    if ACCOUNTING_SCOPE not in scopes or not scopes <= KNOWN_SCOPES:
        return refuse("invalid_scope", f"scope must include {ACCOUNTING_SCOPE}")
    if state is None:
        return refuse("invalid_request", "state is required")
    realm_id = query.get("realm_id") or emu.settings.default_realm_id
    if realm_id is not None and not REALM_ID.match(realm_id):
        return refuse("invalid_request", "realm_id must be 1-64 letters or digits")
    if query.get("consent") == "deny":
        return refuse("access_denied", "The user did not authorize the app")
    realm = emu.ensure_realm(realm_id, permissive=False)
    code = emu.tokens.issue_code(realm.realm_id, redirect_uri)
    emu.store.counters["authorizations"] += 1
    return _back_to_app(redirect_uri, code=code, state=state, realmId=realm.realm_id)


def token(
    emu: Emulator, authorization: str, form: Mapping[str, Any], headers: Mapping[str, str]
) -> Response:
    """The token endpoint: `authorization_code` or `refresh_token` grant, Basic auth."""
    if not basic_ok(emu, authorization):
        return oauth_error(401, "invalid_client")
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        return _exchange_code(emu, str(form.get("code") or ""), str(form.get("redirect_uri") or ""))
    if grant_type != "refresh_token":
        return oauth_error(400, "unsupported_grant_type")
    hard = headers.get(HARD_EXPIRY_HEADER, "").lower() == "true"
    issued = emu.tokens.rotate(str(form.get("refresh_token", "")), with_hard_expiry=hard)
    emu.dirty = True
    if issued is None:
        emu.store.counters["invalid_grant"] += 1
        return oauth_error(400, "invalid_grant", "Incorrect or invalid refresh token")
    emu.store.counters["token_refreshes"] += 1
    return _json(issued)


def _exchange_code(emu: Emulator, code: str, redirect_uri: str) -> Response:
    if not code or not redirect_uri:
        return oauth_error(400, "invalid_request", "code and redirect_uri are required")
    emu.dirty = True
    try:
        realm_id, issued = emu.tokens.exchange(code, redirect_uri)
    except CodeRefused as refused:
        emu.store.counters["invalid_grant"] += 1
        return oauth_error(400, "invalid_grant", str(refused))
    # From its first token on, a company accepts only the tokens issued for it.
    emu.ensure_realm(realm_id, permissive=False).require_tokens = True
    emu.store.counters["codes_exchanged"] += 1
    return _json(issued)


def revoke(emu: Emulator, authorization: str, body: bytes) -> Response:
    if not basic_ok(emu, authorization):
        return oauth_error(401, "invalid_client")
    try:
        token_value = json.loads(body).get("token")
    except (ValueError, AttributeError):
        token_value = None
    emu.tokens.revoke(token=token_value)
    emu.dirty = True
    return Response(status_code=200, headers=tid_header())
