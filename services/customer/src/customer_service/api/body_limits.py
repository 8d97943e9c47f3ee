"""Request size limits by route: attachments may be large, everything else stays small."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from platform_kit.http import BodySizeLimit


class BodyLimitsByPath:
    def __init__(self, app: ASGIApp, default_bytes: int, attachment_bytes: int) -> None:
        self.small = BodySizeLimit(app, default_bytes)
        self.large = BodySizeLimit(app, attachment_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        limited = self.large if path.endswith("/attachments") else self.small
        await limited(scope, receive, send)
