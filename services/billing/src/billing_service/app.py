"""The billing service: ledger consumer, flag sweep, and its HTTP API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from billing_service.api import routes
from billing_service.handlers.expire_parked import run_parked_expiry
from billing_service.handlers.sweep_flags import run_sweeps
from billing_service.settings import Settings
from billing_service.subscribers import billing_subscribers
from platform_kit.http import install_http_basics
from platform_kit.runtime import ServiceRuntime
from platform_kit.versioning import include_api

SERVICE = "billing"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(
        service=SERVICE,
        schema=settings.billing_schema,
        settings=settings,
        migrations_package="billing_service.migrations",
    )
    runtime.include_router(billing_subscribers(runtime, settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.lifespan(app):
            runtime.background.append(
                asyncio.create_task(
                    run_sweeps(runtime.db, settings.billing_schema, settings.overdue_sweep_seconds)
                )
            )
            runtime.background.append(
                asyncio.create_task(
                    run_parked_expiry(
                        runtime.db,
                        settings.consumer_name,
                        settings.parked_max_wait_seconds,
                        settings.parked_check_seconds,
                    )
                )
            )
            yield

    app = FastAPI(title="billing service", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.settings = settings
    install_http_basics(app)
    app.include_router(runtime.ops_router())
    include_api(app, routes.router)  # billing was at /v1 from the start: no legacy paths
    return app
