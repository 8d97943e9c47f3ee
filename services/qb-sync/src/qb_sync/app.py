"""The qb-sync service's composition root: the runtime, the pull side (runners/pull_side.py) and
the push side (runners/push_side.py) around one `QboGateway`, the only way to QuickBooks, and the
module-level routers of api/. Layers: docs/decisions/0014-qbsync-layers.md."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from platform_kit.http import install_http_basics
from platform_kit.runtime import ServiceRuntime
from platform_kit.versioning import include_api
from qb_sync.api import connections, sync, webhooks
from qb_sync.api import pull as pull_api
from qb_sync.api.errors import install_use_case_errors
from qb_sync.api.qbd import connections as qbd_connections
from qb_sync.api.qbd import web_connector
from qb_sync.qbo.gateway import QboGateway
from qb_sync.qbo.token_source import Credentials
from qb_sync.runners.pull_side import pull_side
from qb_sync.runners.push_side import PushSide
from qb_sync.settings import Settings
from qb_sync.store.ownership import RealmOwnership
from qb_sync.store.realm_pauses import RealmPauses
from qb_sync.subscribers import qb_sync_subscribers

SERVICE = "qb-sync"
SCHEMA = "qb_sync"


def create_app(settings: Settings | None = None, credentials: Credentials | None = None) -> FastAPI:
    """`credentials` replaces the stored (encrypted, refreshed) connection tokens (a test that
    holds an issued token passes `FixedCredentials`); then no connection row is needed."""
    settings = settings or Settings()

    runtime = ServiceRuntime(
        service=SERVICE,
        schema=SCHEMA,
        settings=settings,
        migrations_package="qb_sync.migrations",
    )
    runtime.include_router(qb_sync_subscribers(runtime))
    pull = pull_side(runtime, settings)
    push = PushSide(settings, runtime)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.lifespan(app):
            ownership = RealmOwnership(settings.database_url)
            gateway = QboGateway(
                settings,
                credentials or pull.make_credentials(),
                ownership,
                RealmPauses(runtime.db),
            )
            app.state.gateway = gateway
            pull.start_worker(gateway, ownership)
            push.start_worker(gateway, ownership, connected_only=credentials is None)
            try:
                yield
            finally:
                await push.stop()
                await pull.stop()
                await ownership.close()
                gateway.close()

    app = FastAPI(title="qb-sync service", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.pull = pull
    app.state.push = push
    install_http_basics(app)
    app.include_router(runtime.ops_router())
    install_use_case_errors(app)
    # Under /v1 like every service; /quickbooks/... keeps answering (docs/decisions/0015-api-shape.md)
    include_api(
        app,
        connections.router,
        pull_api.router,
        webhooks.router,
        sync.router,
        legacy_prefixes=("/quickbooks",),
    )
    # The Web Connector's SOAP endpoint is QuickBooks Desktop's contract, not ours to version;
    # the Desktop connection routes stay beside it until they get their /v1 shape.
    app.include_router(web_connector.router)
    app.include_router(qbd_connections.router)
    return app
