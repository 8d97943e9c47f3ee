"""OAuth routes intuit-oauth talks to: the OpenID discovery document, the consent page
(authorization endpoint), and the token and revoke endpoints (logic in oauth_flows)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from qbo_emulator import oauth_flows
from qbo_emulator.deps import EmulatorDep

DISCOVERY_PATHS = ("/.well-known/openid_configuration", "/.well-known/openid_sandbox_configuration")
AUTHORIZE_PATH = "/connect/oauth2"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
REVOKE_PATH = "/oauth2/v1/tokens/revoke"

router = APIRouter()


async def discovery(request: Request) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return oauth_flows.discovery(base, AUTHORIZE_PATH, TOKEN_PATH, REVOKE_PATH)


for _path in DISCOVERY_PATHS:
    router.add_api_route(_path, discovery, methods=["GET"])
    router.add_api_route(_path + "/", discovery, methods=["GET"], include_in_schema=False)


@router.get(AUTHORIZE_PATH)
async def authorize(request: Request, emu: EmulatorDep) -> Response:
    return oauth_flows.authorize(emu, request.query_params)


@router.post(TOKEN_PATH)
async def token(request: Request, emu: EmulatorDep) -> Response:
    authorization = request.headers.get("authorization", "")
    return oauth_flows.token(emu, authorization, await request.form(), request.headers)


@router.post(REVOKE_PATH)
async def revoke(request: Request, emu: EmulatorDep) -> Response:
    authorization = request.headers.get("authorization", "")
    return oauth_flows.revoke(emu, authorization, await request.body())


@router.get("/oauth2/v1/keys")
async def keys() -> dict[str, Any]:
    return {"keys": []}
