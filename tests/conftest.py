"""Shared fixtures: the real Kafka broker and PostgreSQL, and per-test isolation on them.

Servers come from KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set (`./dev test` sets them after
starting the local stack); otherwise from testcontainers when a Docker engine answers; otherwise
this starts the project's own local stack (deploy/local/stack.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from platform_kit.db import KIT_MIGRATION_PACKAGE, create_pool, load_migrations
from tests.support.schemas import migrated_schema

ROOT = Path(__file__).resolve().parents[1]


def _docker_ok() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def stack_env() -> Iterator[dict[str, str]]:
    kafka, database = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("DATABASE_URL")
    if kafka and database:
        yield {"KAFKA_BOOTSTRAP_SERVERS": kafka, "DATABASE_URL": database}
        return
    if _docker_ok():
        from testcontainers.community.kafka import KafkaContainer
        from testcontainers.community.postgres import PostgresContainer

        with (
            KafkaContainer("apache/kafka:4.3.1").with_kraft() as kc,
            PostgresContainer("postgres:16", driver=None) as pc,
        ):
            env = {
                "KAFKA_BOOTSTRAP_SERVERS": kc.get_bootstrap_server(),
                "DATABASE_URL": pc.get_connection_url(),
            }
            os.environ.update(env)
            yield env
        return
    stack = [sys.executable, str(ROOT / "deploy" / "local" / "stack.py")]
    subprocess.run([*stack, "start"], check=True)
    env = {}
    state = Path(os.environ.get("STACK_STATE_DIR", ROOT / ".state"))
    for line in (state / "stack.env").read_text().splitlines():
        key, _, value = line.partition("=")
        env[key] = value
    os.environ.update(env)
    yield env


@pytest.fixture(scope="session")
def kafka_bootstrap(stack_env: dict[str, str]) -> str:
    return stack_env["KAFKA_BOOTSTRAP_SERVERS"]


@pytest.fixture(scope="session")
def database_url(stack_env: dict[str, str]) -> str:
    return stack_env["DATABASE_URL"]


@pytest.fixture
async def kit_schema(database_url: str) -> AsyncIterator[str]:
    """A fresh schema with the kit's outbox and inbox tables, dropped after the test."""
    async with migrated_schema(
        database_url, "t_", load_migrations(KIT_MIGRATION_PACKAGE)
    ) as schema:
        yield schema


@pytest.fixture
async def kit_pool(database_url: str, kit_schema: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, kit_schema, min_size=1, max_size=5)
    yield pool
    await pool.close()


async def create_test_topics(bootstrap: str, names: list[str], partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


@pytest.fixture
async def test_topic(kafka_bootstrap: str) -> str:
    """A fresh topic and its dead-letter topic, so tests never see each other's messages."""
    name = f"test.{uuid.uuid4().hex[:10]}"
    await create_test_topics(kafka_bootstrap, [name, f"{name}.dlq"])
    return name
