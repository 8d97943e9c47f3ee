"""Every service answers /healthz, /readyz and /metrics as ops and Kubernetes expect."""

from __future__ import annotations

import importlib

import httpx
import pytest

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
            assert "platform_outbox_backlog" in metrics.text
            assert (
                "platform_consumer_lag" in metrics.text or "platform_dead_letters" in metrics.text
            )
            correlated = await client.get("/healthz", headers={"x-correlation-id": "abc-123"})
            assert correlated.headers["x-correlation-id"] == "abc-123"
            unknown = await client.get("/no-such-route")
            assert unknown.status_code == 404
            assert unknown.json()["error"]["code"] == "not_found"
            wrong_method = await client.delete("/healthz")
            assert wrong_method.status_code == 405
            assert wrong_method.json()["error"]["code"] == "method_not_allowed"
