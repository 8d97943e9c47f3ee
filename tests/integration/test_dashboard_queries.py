"""Every PromQL expression of the Grafana dashboards and the alert rules, run against the stack's
real Prometheus while the whole platform (run_platform.py, started here) does real work: customers
created and paid, a customer pushed to the QuickBooks emulator, one QuickBooks refuses, and a
message no consumer can read (a real dead letter). An expression that errors or returns no series
fails the test.

An alert's expression returns series only while it fires; for a plain `X > N` (or `== N`) alert
that is not firing, X itself must return series: the metric is there and the threshold is what
keeps it silent. The dead-letter and QuickBooks-failure alerts must fire outright: this run made
both happen.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from bench.chaos import REALM, Platform, Servers, admin_token, drop_database, fresh_database
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
MUST_FIRE = {"DeadLetters", "QuickBooksSyncFailures"}
THRESHOLD = re.compile(r"^(?P<lhs>[^\n]+?)\s*(?:>|<|==|!=|>=|<=)\s*[0-9.e+-]+\s*$")

pytestmark = pytest.mark.integration


def expressions() -> list[tuple[str, str]]:
    """(where, expr) for every dashboard panel target and every alert rule."""
    found = []
    for path in sorted((ROOT / "deploy/dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{path.name}: {panel['title']}", target["expr"]))
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            found.append((f"alert {rule.get('alert') or rule.get('record')}", rule["expr"]))
    return found


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as error:  # a bad query: 400 with the parser's message
        raise AssertionError(f"{expr!r}: {error.read().decode()}") from error
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def not_answered(prometheus: str, ports: dict[str, int]) -> dict[str, str]:
    """What still returns no series (where -> expression), plus the alerts that must fire."""
    missing = {}
    for where, expr in expressions():
        if query(prometheus, expr):
            continue
        simple = THRESHOLD.match(expr.strip())
        fires_only = any(f"alert {name}" == where for name in MUST_FIRE)
        if simple and not fires_only and query(prometheus, simple["lhs"]):
            continue
        missing[where] = expr
    for name in MUST_FIRE - firing_alerts(prometheus):
        missing[f"alert {name}"] = "not firing"
    # ... and for what this run did, not a leftover of an earlier one
    billing = f'instance="127.0.0.1:{ports["BILLING"]}"'
    qb_sync = f'instance="127.0.0.1:{ports["QB_SYNC"]}"'
    for expr in (
        f'platform_dead_letters_total{{{billing}, topic="billing.transactions"}}',
        f'qbsync_push_outcomes_total{{{qb_sync}, outcome="failed"}}',
        f'qbsync_push_outcomes_total{{{qb_sync}, outcome="linked"}}',
    ):
        if not query(prometheus, expr):
            missing["this run"] = expr
    return missing


def firing_alerts(prometheus: str) -> set[str]:
    with urllib.request.urlopen(f"{prometheus}/api/v1/alerts", timeout=30) as answer:
        alerts = json.loads(answer.read())["data"]["alerts"]
    return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}


async def real_work(platform: Platform, token: str, kafka: str) -> None:
    """Customers created and paid; one pushed to QuickBooks, one QuickBooks refuses (its email
    is longer than QuickBooks' 100 characters: cut to fit, it is no address, and QuickBooks
    answers a validation fault); a message billing cannot read."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        customer_url, billing_url = platform.url("CUSTOMER"), platform.url("BILLING")
        ids = []
        too_long = "x" * 64 + "@" + "d" * 40 + ".example.com"  # valid, but 117 characters
        for name, email in (("Observed", None), ("Watched", None), ("Refused", too_long)):
            body = {"company_name": f"{name} {os.getpid()} Ltd", "contact_name": "Ada"}
            answer = await client.post(
                f"{customer_url}/customers", json=body | ({"email": email} if email else {})
            )
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["customer_id"])
        for customer_id in (ids[0], ids[2]):
            answer = await client.post(
                f"{customer_url}/customers/{customer_id}/quickbooks/push", json={"realm_id": REALM}
            )
            assert answer.status_code == 202, answer.text
        for n in range(20):
            customer_id = ids[n % 2]
            for _ in range(60):  # until billing has heard of the customer
                answer = await client.post(
                    f"{billing_url}/v1/customers/{customer_id}/payments",
                    headers={"Idempotency-Key": f"promql-{customer_id}-{n}"},
                    json={"amount_minor": 1000 + n, "currency": "USD"},
                )
                if answer.status_code != 404:
                    break
                await asyncio.sleep(1)
            assert answer.status_code in (200, 201), answer.text
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait("billing.transactions", b"{not an event", key=ids[0].encode())
    finally:
        await producer.stop()


@pytest.mark.timeout(900)
async def test_every_dashboard_and_alert_query_returns_data(stack_env, tmp_path) -> None:
    prometheus = os.environ.get("PROMETHEUS_URL")
    targets = os.environ.get("PROMETHEUS_TARGETS_DIR")
    if not prometheus or not targets:
        pytest.skip("no stack Prometheus (PROMETHEUS_URL / PROMETHEUS_TARGETS_DIR not set)")
    servers = Servers(
        stack_env["KAFKA_BOOTSTRAP_SERVERS"], stack_env["DATABASE_URL"], prometheus, targets
    )
    database_url = await fresh_database(servers.database_url, f"promql_{os.getpid()}")
    ports = {
        name: free_port()
        for name in ("CUSTOMER", "BILLING", "QB_SYNC", "QBO_EMULATOR", "OPS_CONSOLE")
    }
    platform = Platform(servers, database_url, tmp_path / "platform", ports)
    await asyncio.to_thread(platform.start)
    try:
        await real_work(platform, await admin_token(database_url), servers.kafka)
        deadline = time.monotonic() + 240  # rates need two scrapes; alerts an evaluation
        while True:
            missing = await asyncio.to_thread(not_answered, prometheus, ports)
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(5)
        assert not missing, json.dumps(missing, indent=2)
    finally:
        await asyncio.to_thread(platform.stop)
        await drop_database(servers.database_url, database_url)
