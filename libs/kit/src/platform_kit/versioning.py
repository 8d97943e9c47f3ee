"""One API shape for every service: the major version in the path, `/v1/...`.

Routes are written without the prefix and mounted under it by `include_api`. Paths a service
answered before it had the prefix (`/customers/...`, `/quickbooks/...`) keep answering through
`LegacyPaths`: the request is served by the `/v1` route itself, so both can never drift, and the
answer says it is deprecated (RFC 9745 `Deprecation`) and names its successor (RFC 8288 `Link`).
See docs/decisions/0015-api-shape.md.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/v1"
# When the unversioned paths were deprecated (2026-12-03), as RFC 9745's @epoch-seconds.
DEPRECATED_SINCE = "@1796256000"


def include_api(app: FastAPI, *routers: APIRouter, legacy_prefixes: tuple[str, ...] = ()) -> None:
    """Mount `routers` under /v1; `legacy_prefixes` keep answering without it."""
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    if legacy_prefixes:
        app.add_middleware(LegacyPaths, prefixes=legacy_prefixes)


class LegacyPaths:
    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.prefixes = prefixes

    def _is_legacy(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not self._is_legacy(path):
            await self.app(scope, receive, send)
            return
        successor = API_PREFIX + path
        raw = scope.get("raw_path") or path.encode()
        scope = {**scope, "path": successor, "raw_path": API_PREFIX.encode() + raw}

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Deprecation"] = DEPRECATED_SINCE
                headers.append("Link", f'<{successor}>; rel="successor-version"')
            await send(message)

        await self.app(scope, receive, marked)
