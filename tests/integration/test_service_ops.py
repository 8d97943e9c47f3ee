"""Every service answers /healthz, /readyz and /metrics as ops and Kubernetes expect."""

from __future__ import annotations

import asyncio
import importlib

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from platform_events import new_envelope
from platform_events.contracts.billing import InvoiceVoided
from platform_kit.outbox import OutgoingEvent, add_to_outbox
from tests.support.kafka_io import read_all

pytestmark = pytest.mark.integration

SERVICES = ["customer_service", "billing_service", "qb_sync"]


@pytest.mark.parametrize("module", SERVICES)
async def test_service_serves_health_readiness_and_metrics(module, stack_env):
    app_module = importlib.import_module(f"{module}.app")
    settings_module = importlib.import_module(f"{module}.settings")
    app = app_module.create_app(settings_module.Settings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            health = await client.get("/healthz")
            assert health.status_code == 200 and health.json()["status"] == "alive"
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "kafka": "ok"}
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert metrics.headers["content-type"].startswith("text/plain")
            correlated = await client.get("/healthz", headers={"x-correlation-id": "abc-123"})
            assert correlated.headers["x-correlation-id"] == "abc-123"
            unknown = await client.get("/no-such-route")
            assert unknown.status_code == 404
            assert unknown.json()["error"]["code"] == "not_found"
            wrong_method = await client.delete("/healthz")
            assert wrong_method.status_code == 405
            assert wrong_method.json()["error"]["code"] == "method_not_allowed"


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def value(text: str, name: str, **labels: str) -> float:
    return sum(v for found, v in samples(text, name) if labels.items() <= found.items())


@pytest.mark.parametrize("module", SERVICES)
async def test_metrics_have_labelled_samples_after_real_traffic(
    module, stack_env, kafka_bootstrap, test_topic
):
    app_module = importlib.import_module(f"{module}.app")
    settings_module = importlib.import_module(f"{module}.settings")
    app = app_module.create_app(settings_module.Settings())
    runtime = app.state.runtime
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:

            async def scrape() -> str:
                return (await client.get("/metrics")).text

            service = runtime.service
            published = "platform_events_published_total"
            before = value(await scrape(), published, service=service)
            # One event through the service's own outbox and relay, to a topic of the test's.
            envelope = new_envelope(
                InvoiceVoided(customer_id="ops-1", invoice_id="inv-1"),
                source=service,
                subject="ops-1",
                tenant_id="t1",
                sequence=1,
            )
            async with runtime.db.acquire() as conn, conn.transaction():
                await add_to_outbox(conn, [OutgoingEvent(envelope, test_topic, "ops-1")])
            assert await read_all(kafka_bootstrap, test_topic, expected=1, committed_only=True)

            async def published_and_consumers_measured() -> bool:
                text = await scrape()
                if value(text, published, service=service, type=envelope.type) < 1:
                    return False
                for runner in runtime.consumers:
                    assigned = runner.consumer.assignment() if runner.consumer else set()
                    lag = {
                        (s["topic"], s["partition"])
                        for s, _ in samples(text, "platform_consumer_lag")
                        if s["consumer"] == runner.name
                    }
                    # (another app of the same service in this process may add its own)
                    if (
                        not assigned
                        or not {(tp.topic, str(tp.partition)) for tp in assigned} <= lag
                    ):
                        return False
                return True

            deadline = asyncio.get_running_loop().time() + 60
            while not await published_and_consumers_measured():
                assert asyncio.get_running_loop().time() < deadline, (
                    [sorted(r.consumer.assignment()) for r in runtime.consumers if r.consumer],
                    [s for s, _ in samples(await scrape(), "platform_consumer_lag")],
                    value(await scrape(), published, service=service, type=envelope.type),
                )
                await asyncio.sleep(0.5)
            text = await scrape()
            assert value(text, published, service=service) >= before + 1
            assert value(text, "platform_outbox_commit_to_publish_seconds_count", service=service)
            assert samples(text, "platform_outbox_backlog")  # the relay measured its backlog
            assert runtime.consumers, "every service consumes something"
