"""qb-sync's Web Connector endpoint on a real port over a fresh PostgreSQL schema (qb-sync's
migrations), for the simulated Web Connector to call through its SOAP client."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import SimpleNamespace

import asyncpg
import pytest
import uvicorn
from fastapi import FastAPI

from platform_kit.auth import Authenticator, migrate_auth
from platform_kit.db import create_pool, service_migrations
from platform_kit.http import install_http_basics
from qb_sync.api.qbd import connections, web_connector
from tests.support.ports import free_port
from tests.support.schemas import migrated_schema

OWNER_ID = "{6B0A1C2D-3E4F-4A5B-8C9D-0E1F2A3B4C5D}"


@dataclass
class Endpoint:
    url: str
    schema: str


@pytest.fixture
async def qbd_schema(database_url: str) -> AsyncIterator[str]:
    await migrate_auth(database_url)  # the kit's API tokens, for the admin routes
    migrations = service_migrations("qb_sync.migrations")
    async with migrated_schema(database_url, "t_qbd_", migrations) as schema:
        yield schema


@pytest.fixture
async def db(database_url: str, qbd_schema: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, qbd_schema, min_size=1, max_size=3)
    yield pool
    await pool.close()


@pytest.fixture
def endpoint(database_url: str, qbd_schema: str) -> Iterator[Endpoint]:
    """The routers as qb-sync mounts them, served by uvicorn in a thread with its own pool."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(database_url, qbd_schema, min_size=1, max_size=4)
        app.state.runtime = SimpleNamespace(db=pool, auth=Authenticator(lambda: pool))
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)
    install_http_basics(app)
    app.include_router(web_connector.router)
    app.include_router(connections.router)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the endpoint did not start")
        threading.Event().wait(0.05)
    yield Endpoint(f"http://127.0.0.1:{port}/qbwc", qbd_schema)
    server.should_exit = True
    thread.join(10)
