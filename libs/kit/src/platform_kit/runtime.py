"""What every service process runs beside its own code: pool, migrations, relay, consumers, ops.

A service builds one `ServiceRuntime`, hands FastAPI its `lifespan`, and includes `ops_router()`
for /healthz, /readyz and /metrics. Its Kafka side is a FastStream application (`kafka`, on one
`KafkaBroker`): the service declares its subscribers on a `KafkaRouter` (its `subscribers.py`)
and hands it to `include_router`; the lifespan starts that application once the pool and the
topics exist and stops it before they go (docs/decisions/0001).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import HTMLResponse, JSONResponse
from faststream.kafka import KafkaRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from platform_events.asyncapi import asyncapi_document
from platform_events.asyncapi_html import render_html
from platform_kit.auth import Authenticator, migrate_auth
from platform_kit.broker import hosting_app, kafka_broker
from platform_kit.consumer import ConsumerRunner
from platform_kit.db import apply_migrations, create_pool, pending_migrations, service_migrations
from platform_kit.inbox import BatchEventHandler, EventHandler
from platform_kit.kafka import idempotent_producer
from platform_kit.relay import OutboxRelay
from platform_kit.settings import ServiceSettings
from platform_kit.topics import ensure_topics

log = logging.getLogger(__name__)


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str]


class ServiceRuntime:
    def __init__(
        self,
        *,
        service: str,
        schema: str,
        settings: ServiceSettings,
        migrations_package: str,
        run_relay: bool = True,
    ) -> None:
        self.service = service
        self.schema = schema
        self.settings = settings
        self.migrations = service_migrations(migrations_package)
        self.run_relay = run_relay
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        # The consumer group members declared by the service, hosted by `kafka`.
        self.consumers: list[ConsumerRunner] = []
        self.broker = kafka_broker(settings.kafka_bootstrap_servers, service)
        self.kafka = hosting_app(self.broker, self.consumers)
        self.background: list[asyncio.Task[Any]] = []
        self.auth = Authenticator(lambda: self.db)

    @property
    def db(self) -> asyncpg.Pool:
        if self.pool is None:
            raise RuntimeError("runtime not started")
        return self.pool

    def consumer(
        self,
        name: str,
        topics: list[str],
        handler: EventHandler | BatchEventHandler,
        group_id: str | None = None,
    ) -> ConsumerRunner:
        """A consumer group member on this service's pool, batching as its settings say: the
        service declares its FastStream subscriber (`subscriber_options()`) and `attach`es it."""
        member = ConsumerRunner(
            name=name,
            topics=topics,
            pool=lambda: self.db,
            bootstrap=self.settings.kafka_bootstrap_servers,
            handler=handler,
            group_id=group_id,
            max_records=self.settings.consumer_max_records,
        )
        self.consumers.append(member)
        return member

    def include_router(self, router: KafkaRouter) -> None:
        """Host the subscribers the service declared on `router`."""
        self.broker.include_router(router)

    async def start(self) -> None:
        self.pool = await create_pool(self.settings.database_url, self.schema)
        await migrate_auth(self.settings.database_url)
        applied = await apply_migrations(self.pool, self.schema, self.migrations)
        log.info("migrations applied: %d", applied)
        await ensure_topics(self.settings.kafka_bootstrap_servers)
        self.producer = idempotent_producer(self.settings.kafka_bootstrap_servers, self.service)
        await self.producer.start()
        if self.run_relay:
            self.relay = OutboxRelay(
                dsn=self.settings.database_url,
                schema=self.schema,
                bootstrap=self.settings.kafka_bootstrap_servers,
                service=self.service,
                batch_size=self.settings.outbox_batch_size,
            )
            self.relay.start()

    async def stop(self) -> None:
        for task in self.background:
            task.cancel()
        if self.relay:
            await self.relay.stop()
        if self.producer:
            await self.producer.stop()
        if self.pool:
            await self.pool.close()

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        """Pool, migrations, topics and relay first; then the FastStream application (only if
        the service declared subscribers), stopped first, so no batch outlives the pool."""
        hosting = False
        try:
            await self.start()
            if self.broker.subscribers:
                hosting = True  # also stopped if it fails half-way through starting
                await self.kafka.start()
            yield
        finally:
            try:
                if hosting:
                    await self.kafka.stop()
            finally:
                await self.stop()

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(2):
                await self.db.fetchval("SELECT 1")
                pending = await pending_migrations(self.db, self.migrations)
            checks["database"] = "ok"
            checks["migrations"] = "ok" if not pending else f"pending: {', '.join(pending)}"
        except Exception as exc:
            checks["database"] = f"error: {exc}"
        try:
            assert self.producer is not None
            async with asyncio.timeout(2):
                await self.producer.client.fetch_all_metadata()
            checks["kafka"] = "ok"
        except Exception as exc:
            checks["kafka"] = f"error: {exc or type(exc).__name__}"
        return checks

    def ops_router(self) -> APIRouter:
        router = APIRouter(tags=["ops"])

        @router.get("/healthz")
        async def healthz() -> dict[str, str]:
            return {"status": "alive", "service": self.service}

        @router.get(
            "/readyz",
            responses={
                200: {"description": "Ready", "model": Readiness},
                503: {"description": "Not ready", "model": Readiness},
            },
        )
        async def readyz() -> JSONResponse:
            checks = await self.readiness()
            ready = all(v == "ok" for v in checks.values())
            return JSONResponse(
                {"ready": ready, "checks": checks}, status_code=200 if ready else 503
            )

        @router.get("/asyncapi.json", include_in_schema=False)
        async def asyncapi_json() -> JSONResponse:
            return JSONResponse(asyncapi_document())

        @router.get("/asyncapi", include_in_schema=False)
        async def asyncapi_html() -> HTMLResponse:
            return HTMLResponse(render_html(asyncapi_document()))

        @router.get(
            "/metrics",
            response_class=Response,
            responses={
                200: {
                    "description": "Prometheus text exposition format",
                    "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
                }
            },
        )
        async def metrics() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

        return router
