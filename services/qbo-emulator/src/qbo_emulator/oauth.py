"""OpenID discovery document and the token/revoke endpoints intuit-oauth talks to."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from qbo_emulator.emulator import Emulator

DISCOVERY_PATHS = ("/.well-known/openid_configuration", "/.well-known/openid_sandbox_configuration")
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
REVOKE_PATH = "/oauth2/v1/tokens/revoke"


def _basic_ok(emu: Emulator, header: str) -> bool:
    if not header.lower().startswith("basic "):
        return False
    try:
        client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return False
    return client_id == emu.settings.client_id and secret == emu.settings.client_secret


def build_router(emu: Emulator) -> APIRouter:
    router = APIRouter()

    async def discovery(request: Request) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        return {
            "issuer": "https://oauth.platform.intuit.com/op/v1",
            "authorization_endpoint": f"{base}/connect/oauth2",
            "token_endpoint": f"{base}{TOKEN_PATH}",
            "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
            "revocation_endpoint": f"{base}{REVOKE_PATH}",
            "jwks_uri": f"{base}/oauth2/v1/keys",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
        }

    for path in DISCOVERY_PATHS:
        router.add_api_route(path, discovery, methods=["GET"])
        router.add_api_route(path + "/", discovery, methods=["GET"], include_in_schema=False)

    @router.post(TOKEN_PATH)
    async def token(request: Request) -> Response:
        if not _basic_ok(emu, request.headers.get("authorization", "")):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        form = await request.form()
        if form.get("grant_type") != "refresh_token":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        issued = emu.tokens.rotate(str(form.get("refresh_token", "")))
        emu.dirty = True
        if issued is None:
            emu.store.counters["invalid_grant"] += 1
            return JSONResponse(
                {
                    "error": "invalid_grant",
                    "error_description": "Incorrect or invalid refresh token",
                },
                status_code=400,
            )
        emu.store.counters["token_refreshes"] += 1
        return JSONResponse(issued)

    @router.post(REVOKE_PATH)
    async def revoke(request: Request) -> Response:
        if not _basic_ok(emu, request.headers.get("authorization", "")):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        try:
            token_value = json.loads(await request.body()).get("token")
        except (ValueError, AttributeError):
            token_value = None
        emu.tokens.revoke(token=token_value)
        emu.dirty = True
        return Response(status_code=200)

    @router.get("/oauth2/v1/keys")
    async def keys() -> dict[str, Any]:
        return {"keys": []}

    return router
