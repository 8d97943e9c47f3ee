"""Each service served over HTTP on the tests' own stack, with a tenant and tokens to fuzz with.

The budget (examples per operation) is FUZZ_EXAMPLES, 10 by default: enough for every generation
phase to reach every operation and keep the stage within minutes on two cores. The README says
how to run it with a larger one.

The services live as long as this package's tests (package scope): customer and qb-sync run on the
real schemas and consumer groups, and left running they would take partitions of the `qb-sync`
group from the platform a later test starts (tests/integration/test_dashboard_queries.py).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import pytest

from billing_service.app import create_app as create_billing_app
from customer_service.app import create_app as create_customer_app
from customer_service.settings import Settings as CustomerSettings
from platform_kit.auth import create_token, migrate_auth
from qb_sync.app import create_app as create_qbsync_app
from qb_sync.settings import Settings as QbSyncSettings
from qbo_emulator.testing import EmulatorServer
from tests.billing.conftest import create_topics_for, isolated_settings
from tests.billing.support import customer_created, envelope, publish, wait_for
from tests.fuzz.live import serving
from tests.support.schemas import drop_schema

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))


TOKENS: dict[str, str] = {}  # service -> its target's token, for the fuzzers' auth provider


@dataclass
class Target:
    base_url: str
    headers: dict[str, str]  # a read+write+admin token of a tenant of its own
    tenant_id: str
    known_customer: str  # a customer that exists, so some cases get past the 404
    database_url: str
    schema: str


async def _token(database_url: str, tenant: str) -> str:
    await migrate_auth(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        return await create_token(conn, tenant, ["read", "write", "admin"], "fuzz")
    finally:
        await conn.close()


@pytest.fixture(scope="package")
def customer_target(stack_env: dict[str, str]) -> Iterator[Target]:
    settings = CustomerSettings(
        database_url=stack_env["DATABASE_URL"],
        kafka_bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        attachment_max_bytes=200_000,
        run_consumers=False,
    )
    tenant = f"fuzz-{uuid.uuid4().hex[:8]}"
    with serving(create_customer_app(settings)) as base:
        token = asyncio.run(_token(stack_env["DATABASE_URL"], tenant))
        TOKENS["customer"] = token
        headers = {"authorization": f"Bearer {token}"}
        import httpx

        created = httpx.post(
            f"{base}/v1/customers",
            json={"company_name": "Fuzz Known Ltd", "contact_name": "Ann Known"},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        yield Target(
            base, headers, tenant, created.json()["customer_id"], settings.database_url, "customer"
        )


@pytest.fixture(scope="package")
def billing_target(stack_env: dict[str, str]) -> Iterator[Target]:
    database_url, bootstrap = stack_env["DATABASE_URL"], stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    settings = isolated_settings(database_url, bootstrap)
    asyncio.run(create_topics_for(settings))
    tenant = f"fuzz-{uuid.uuid4().hex[:8]}"
    try:
        with serving(create_billing_app(settings)) as base:
            token = asyncio.run(_token(database_url, tenant))
            TOKENS["billing"] = token
            asyncio.run(_billing_customer(database_url, settings, tenant, "fuzz-known"))
            yield Target(
                base,
                {"authorization": f"Bearer {token}"},
                tenant,
                "fuzz-known",
                database_url,
                settings.billing_schema,
            )
    finally:
        asyncio.run(drop_schema(database_url, settings.billing_schema))


async def _billing_customer(database_url: str, settings, tenant: str, customer: str) -> None:  # type: ignore[no-untyped-def]
    await publish(
        settings.kafka_bootstrap_servers,
        settings.customer_topic,
        [envelope(customer_created(customer), tenant)],
    )
    conn = await asyncpg.connect(database_url)
    try:
        await wait_for(
            lambda: conn.fetchval(
                f'SELECT count(*) FROM "{settings.billing_schema}".customers WHERE tenant_id = $1',
                tenant,
            )
        )
    finally:
        await conn.close()


@pytest.fixture(scope="package")
def qbsync_target(stack_env: dict[str, str]) -> Iterator[Target]:
    """qb-sync against an emulator, its workers idle for tenants other than the fuzzer's."""
    tenant = f"fuzz-qb-{uuid.uuid4().hex[:8]}"
    with EmulatorServer(settings={"webhook_verifier_token": "fuzz-verifier"}) as emulator:
        settings = QbSyncSettings(
            database_url=stack_env["DATABASE_URL"],
            kafka_bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
            qbo_base_url=emulator.base_url,
            qbo_webhook_verifier_token="fuzz-verifier",
            pull_cdc_interval_seconds=3600,
            push_tenant_prefix=tenant,
            pull_tenant_prefix=tenant,
        )
        with serving(create_qbsync_app(settings)) as base:
            token = asyncio.run(_token(stack_env["DATABASE_URL"], tenant))
            TOKENS["qb-sync"] = token
            yield Target(
                base,
                {"authorization": f"Bearer {token}"},
                tenant,
                str(uuid.uuid4()),
                settings.database_url,
                "qbsync",
            )
