"""The ops console's app: the JSON API (api.py) and the page (static/), one origin, no CDN."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ops_console.api import router
from ops_console.context import Console
from ops_console.settings import Settings
from platform_kit.auth import AUTH_SCHEMA, migrate_auth
from platform_kit.db import create_pool
from platform_kit.http import install_http_basics

SERVICE = "ops-console"
STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    client = httpx.AsyncClient(timeout=settings.upstream_timeout_seconds)
    ctx = Console(settings, client)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await migrate_auth(settings.database_url)
        ctx.pool = await create_pool(settings.database_url, AUTH_SCHEMA, min_size=1, max_size=4)
        try:
            yield
        finally:
            await ctx.pool.close()
            await client.aclose()

    app = FastAPI(title="ops console", lifespan=lifespan)
    app.state.console = ctx
    install_http_basics(app)
    app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "alive", "service": SERVICE}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        try:
            await ctx.auth.principal_for("readiness-probe")  # a real token lookup
            checks = {"database": "ok"}
        except Exception as exc:
            checks = {"database": f"error: {exc!r}"}
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """The console's own metrics (metrics.py) and its process', scraped like the services'."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
