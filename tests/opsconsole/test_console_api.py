"""The console's API without a browser: who may use it, what it refuses, how it shows bytes and
orders sync rows. (tests/e2e/ drives the page itself on the whole platform.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from ops_console.app import create_app
from ops_console.dead_letters import pretty_bytes
from ops_console.health import supervised
from ops_console.quickbooks import failures_first, overview
from ops_console.settings import Settings
from ops_console.upstream import Upstream
from platform_kit.auth import create_token, migrate_auth

pytestmark = pytest.mark.integration


async def _tokens(dsn: str) -> tuple[str, str]:
    await migrate_auth(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        admin = await create_token(conn, "console-t", ["admin"], "test")
        writer = await create_token(conn, "console-t", ["read", "write"], "test")
        return admin, writer
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def console(stack_env: dict[str, str]) -> Iterator[tuple[TestClient, str, str]]:
    admin, writer = asyncio.run(_tokens(stack_env["DATABASE_URL"]))
    settings = Settings(
        database_url=stack_env["DATABASE_URL"],
        kafka_bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        prometheus_url="http://127.0.0.1:9",  # nothing listens: Prometheus is down
        billing_url="http://127.0.0.1:9",
    )
    with TestClient(create_app(settings)) as client:
        yield client, admin, writer


def test_every_api_route_needs_an_admin_token(console: tuple[TestClient, str, str]) -> None:
    client, admin, writer = console
    assert client.get("/api/session").json()["error"]["code"] == "unauthorized"
    refused = client.get("/api/dead-letters", headers={"Authorization": f"Bearer {writer}"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    me = client.get("/api/session", headers={"Authorization": f"Bearer {admin}"})
    assert me.json() == {"tenant_id": "console-t", "name": "test"}
    assert client.get("/").status_code == 200  # the page itself is public: it holds no data


def test_bad_requests_get_a_clear_4xx(console: tuple[TestClient, str, str]) -> None:
    client, admin, _ = console
    auth = {"Authorization": f"Bearer {admin}"}
    unknown = client.get("/api/dead-letters/billing.transactions", headers=auth)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    for body in ({}, {"all": True, "offset": 3}, {"partition": 1}, {"partition": -1, "offset": 0}):
        bad = client.post("/api/dead-letters/qb.sync.dlq/replay", json=body, headers=auth)
        assert bad.status_code == 422, (body, bad.text)
    assert client.get("/api/charts/nope", headers=auth).status_code == 422


def test_dead_letter_counts_cover_every_topic(console: tuple[TestClient, str, str]) -> None:
    client, admin, _ = console
    topics = client.get("/api/dead-letters", headers={"Authorization": f"Bearer {admin}"}).json()
    names = [t["topic"] for t in topics["topics"]]
    assert "billing.transactions.dlq" in names and all(n.endswith(".dlq") for n in names)
    assert all(t["total"] >= t["waiting"] >= 0 for t in topics["topics"])


def test_a_service_or_prometheus_down_is_a_502_or_503_not_a_500(
    console: tuple[TestClient, str, str],
) -> None:
    client, admin, _ = console
    auth = {"Authorization": f"Bearer {admin}"}
    charts = client.get("/api/charts/flow", headers=auth)
    assert charts.status_code == 503 and charts.json()["error"]["code"] == "prometheus_unavailable"
    billing = client.get("/api/billing", headers=auth)
    assert billing.status_code == 502 and billing.json()["error"]["code"] == "upstream_unavailable"
    services = client.get("/api/services", headers=auth).json()
    billing_row = next(s for s in services["services"] if s["name"] == "billing")
    assert billing_row["alive"] is False and services["prometheus"] is False


def sample(metrics: str, name: str, **labels: str) -> float:
    """One sample's value from a Prometheus text page (0 when the series is absent)."""
    for family in text_string_to_metric_families(metrics):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return 0.0


def test_its_own_metrics_count_calls_that_found_a_service_or_prometheus_down(
    console: tuple[TestClient, str, str],
) -> None:
    client, admin, _ = console
    auth = {"Authorization": f"Bearer {admin}"}
    before = client.get("/metrics").text
    assert client.get("/api/billing", headers=auth).status_code == 502
    assert client.get("/api/charts/flow", headers=auth).status_code == 503
    after = client.get("/metrics")
    assert after.status_code == 200 and after.headers["content-type"].startswith("text/plain")
    for upstream in ("billing", "prometheus"):
        key = {"upstream": upstream, "outcome": "unavailable"}
        grown = sample(after.text, "opsconsole_upstream_calls_total", **key) - sample(
            before, "opsconsole_upstream_calls_total", **key
        )
        assert grown >= 1, (upstream, grown)
    assert "process_start_time_seconds" in after.text  # restarts show as for the services


def test_original_bytes_are_shown_readably() -> None:
    assert pretty_bytes(b'{"a":1}') == ('{\n  "a": 1\n}', "json")
    assert pretty_bytes(b"{not json") == ("{not json", "text")
    assert pretty_bytes(b"\xff\x00A") == ("ff 00 41", "hex")
    assert pretty_bytes(None) == ("", "empty")


def test_sync_rows_put_what_needs_an_operator_first() -> None:
    rows = [
        {"customer_id": "a", "status": "synced", "updated_at": "2026-01-03"},
        {"customer_id": "b", "status": "failed", "updated_at": "2026-01-01"},
        {"customer_id": "c", "status": "pending", "updated_at": "2026-01-04"},
        {"customer_id": "d", "status": "failed", "updated_at": "2026-01-02"},
        {"customer_id": "e", "status": "conflict", "updated_at": "2026-01-01"},
    ]
    assert [r["customer_id"] for r in failures_first(rows)] == ["d", "b", "e", "c", "a"]


QB_SYNC_ANSWERS: dict[str, Any] = {
    "/quickbooks/connections": {
        "connections": [
            {"realm_id": "9130", "status": "connected", "access_expires_at": None,
             "connected_at": "2026-01-01T00:00:00+00:00", "last_error": None},
        ]
    },
    "/quickbooks-desktop/connections": {
        "connections": [
            {"connection_id": "6f1c1f52-8d7e-4c55-9b43-3f0c6a1d2e10", "username": "qbd-a",
             "file_id": "{FILE-A}", "company_file": "C:\\Acme.qbw",
             "created_at": "2026-01-01T00:00:00+00:00",
             "last_session": {"started_at": "2026-01-02T10:00:00+00:00",
                              "last_seen_at": "2026-01-02T10:01:00+00:00", "status": "closed",
                              "last_error": "0x80040400: QuickBooks found an error"},
             "requests": {"queued": 2, "uncertain": 1, "failed": 0}},
            {"connection_id": "0b9e8a77-1111-4c55-9b43-3f0c6a1d2e10", "username": "qbd-b",
             "file_id": "{FILE-B}", "company_file": "", "created_at": "2026-01-03T00:00:00+00:00",
             "last_session": None, "requests": {"queued": 0, "uncertain": 0, "failed": 0}},
        ]
    },
    "/quickbooks/sync": {"items": []},
}  # fmt: skip


async def test_desktop_connections_are_listed_beside_online_ones() -> None:
    """The QuickBooks page draws this JSON: a Desktop connection has its kind, its company file,
    and its Web Connector session and request queue where Online shows the token."""
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=QB_SYNC_ANSWERS[r.url.path]))
    async with httpx.AsyncClient(transport=transport) as client:
        shown = await overview(Upstream(client, "qb-sync", "http://qb-sync"), "token")
    online, failed, waiting = shown["connections"]
    assert (online["kind"], online["realm_id"], online["status"]) == ("online", "9130", "connected")
    assert (failed["kind"], failed["company"]) == ("desktop", "C:\\Acme.qbw")
    assert failed["realm_id"] == "6f1c1f52-8d7e-4c55-9b43-3f0c6a1d2e10"  # as in its sync rows
    assert failed["status"] == "last session failed" and "0x80040400" in failed["last_error"]
    assert failed["queue"] == "2 queued, 1 uncertain, 0 failed"
    assert "2026-01-02T10:01:00" in failed["session_state"]
    assert (waiting["kind"], waiting["company"], waiting["status"]) == (
        "desktop", "{FILE-B}", "waiting",
    )  # fmt: skip
    assert waiting["session_state"] == "the Web Connector has not called yet"


def test_the_supervisors_status_file_is_read_when_there(tmp_path: Path) -> None:
    status = tmp_path / "platform-status.json"
    assert supervised(str(status)) == {}  # not written yet: restarts come from Prometheus alone
    status.write_text('{"services": {"billing": {"state": "backoff", "restarts": 3}}}')
    assert supervised(str(status))["billing"] == {"state": "backoff", "restarts": 3}
    status.write_text("{half a fi")
    assert supervised(str(status)) == {}
