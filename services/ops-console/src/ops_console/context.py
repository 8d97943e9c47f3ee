"""What every route of the console needs, built once per app and kept on `app.state.console`."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import httpx
from fastapi import Depends, Request

from ops_console.prometheus import Prometheus
from ops_console.settings import Settings
from ops_console.upstream import Upstream
from platform_kit.auth import Authenticator, Principal
from platform_kit.http import ApiError


@dataclass
class Console:
    settings: Settings
    client: httpx.AsyncClient
    pool: asyncpg.Pool | None = None

    def __post_init__(self) -> None:
        self.auth = Authenticator(self._pool)
        self.prometheus = Prometheus(self.client, self.settings.prometheus_url)
        self.customer = Upstream(self.client, "customer", self.settings.customer_url)
        self.billing = Upstream(self.client, "billing", self.settings.billing_url)
        self.qb_sync = Upstream(self.client, "qb-sync", self.settings.qb_sync_url)
        self.emulator = (
            Upstream(self.client, "qbo-emulator", self.settings.qbo_emulator_url)
            if self.settings.qbo_emulator_url
            else None
        )

    def _pool(self) -> asyncpg.Pool:
        if self.pool is None:
            raise ApiError(503, "not_ready", "the console is starting")
        return self.pool


def console(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


async def admin(request: Request, ctx: Console = Depends(console)) -> Principal:
    """Every console route needs an admin-scope token (platform_kit.auth)."""
    principal: Principal = await ctx.auth.require("admin")(request)
    return principal


def bearer(request: Request) -> str:
    """The operator's token, forwarded to the services (already checked by `admin`)."""
    return request.headers.get("authorization", "").partition(" ")[2].strip()
