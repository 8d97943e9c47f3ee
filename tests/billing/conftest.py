"""A billing service on its own schema, topics and consumer group, shared by the billing tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from billing_service.app import create_app
from billing_service.settings import Settings
from platform_kit.auth import create_token, migrate_auth
from tests.billing.support import ledger_schema
from tests.conftest import create_test_topics
from tests.support.schemas import drop_schema


@dataclass
class BillingUnderTest:
    app: FastAPI
    settings: Settings
    pool: asyncpg.Pool
    client: httpx.AsyncClient
    bootstrap: str

    @property
    def tx_topic(self) -> str:
        return self.settings.transactions_topic

    @property
    def customer_topic(self) -> str:
        return self.settings.customer_topic

    async def token(self, tenant: str, scopes: str = "read,write") -> dict[str, str]:
        return {
            "authorization": f"Bearer {await create_token(self.pool, tenant, scopes.split(','))}"
        }


def isolated_settings(database_url: str, kafka_bootstrap: str, **overrides: object) -> Settings:
    tag = uuid.uuid4().hex[:10]
    fields: dict[str, object] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka_bootstrap,
        "billing_schema": f"billing_test_{tag}",
        "transactions_topic": f"test.billing-tx.{tag}",
        "customer_topic": f"test.customers.{tag}",
        "consumer_name": f"billing-test-{tag}",
        "overdue_sweep_seconds": 3600.0,
    }
    fields.update(overrides)
    return Settings(**fields)  # type: ignore[arg-type]


async def create_topics_for(settings: Settings) -> None:
    names = [settings.transactions_topic, settings.customer_topic]
    await create_test_topics(
        settings.kafka_bootstrap_servers, names + [f"{n}.dlq" for n in names], partitions=3
    )


@asynccontextmanager
async def running_billing(
    database_url: str, kafka_bootstrap: str, **overrides: object
) -> AsyncIterator[BillingUnderTest]:
    """A billing service in this process, on its own schema, topics and consumer group."""
    settings = isolated_settings(database_url, kafka_bootstrap, **overrides)
    await create_topics_for(settings)
    await migrate_auth(database_url)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            runtime = app.state.runtime
            for runner in runtime.consumers:
                await runner.started.wait()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://billing") as client:
                yield BillingUnderTest(app, settings, runtime.db, client, kafka_bootstrap)
    finally:
        await drop_schema(database_url, settings.billing_schema)


@pytest.fixture(scope="session")
async def billing(database_url: str, kafka_bootstrap: str) -> AsyncIterator[BillingUnderTest]:
    async with running_billing(database_url, kafka_bootstrap) as b:
        yield b


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A fresh billing schema for tests that call the ledger's handler directly (no service)."""
    async with ledger_schema(database_url) as pool:
        yield pool
