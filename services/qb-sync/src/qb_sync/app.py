"""The qb-sync service's HTTP app: ops endpoints now, its API as it lands."""

from __future__ import annotations

from fastapi import FastAPI

from platform_kit.http import install_http_basics
from platform_kit.runtime import ServiceRuntime
from qb_sync.settings import Settings

SERVICE = "qb-sync"
SCHEMA = "qb_sync"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(
        service=SERVICE,
        schema=SCHEMA,
        settings=settings,
        migrations_package="qb_sync.migrations",
    )
    app = FastAPI(title="qb-sync service", lifespan=runtime.lifespan)
    app.state.runtime = runtime
    install_http_basics(app)
    app.include_router(runtime.ops_router())
    return app
