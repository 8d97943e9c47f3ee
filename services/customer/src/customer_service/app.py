"""The customer service's HTTP app: customers, profile, reference lists, QuickBooks mappings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from customer_service.api import customers, profile, quickbooks, reference
from customer_service.api.body_limits import BodyLimitsByPath
from customer_service.api.errors import install_domain_errors
from customer_service.handlers.fast_create import FastCreate
from customer_service.settings import Settings
from customer_service.subscribers import customer_subscribers
from platform_kit.http import install_http_basics
from platform_kit.runtime import ServiceRuntime
from platform_kit.versioning import include_api

SERVICE = "customer"
SCHEMA = "customer"
# Answered without /v1 too while clients move (docs/decisions/0015-api-shape.md).
LEGACY_PREFIXES = ("/customers", "/reference-lists", "/quickbooks")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(
        service=SERVICE,
        schema=SCHEMA,
        settings=settings,
        migrations_package="customer_service.migrations",
    )
    if settings.run_consumers:
        runtime.include_router(customer_subscribers(runtime))
    fast_create = FastCreate(settings.database_url, SCHEMA)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.lifespan(app):  # migrated before the create path's pool opens
            await fast_create.start()
            try:
                yield
            finally:
                await fast_create.stop()

    app = FastAPI(title="customer service", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.fast_create = fast_create
    app.state.settings = settings
    # The kit's limit is the outer bound (attachments plus multipart overhead); the per-path
    # middleware keeps ordinary JSON requests to max_body_bytes.
    install_http_basics(app, max_body_bytes=settings.attachment_max_bytes + 1_000_000)
    app.add_middleware(
        BodyLimitsByPath,
        default_bytes=settings.max_body_bytes,
        attachment_bytes=settings.attachment_max_bytes + 1_000_000,
    )
    install_domain_errors(app)
    app.include_router(runtime.ops_router())
    include_api(
        app,
        customers.router,
        profile.router,
        reference.router,
        quickbooks.router,
        legacy_prefixes=LEGACY_PREFIXES,
    )
    return app
