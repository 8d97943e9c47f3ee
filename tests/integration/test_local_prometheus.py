"""The local stack's Prometheus loads the project's alert rules and scrapes whatever is written
to its targets folder (file_sd), so services on moved ports are scraped without a config edit."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "local"))

pytestmark = pytest.mark.integration


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


@pytest.fixture
def prometheus(stack_env: dict[str, str]) -> str:
    url = os.environ.get("PROMETHEUS_URL")
    if not url or not os.environ.get("PROMETHEUS_TARGETS_DIR"):
        pytest.skip("no stack Prometheus (PROMETHEUS_URL / PROMETHEUS_TARGETS_DIR not set)")
    return url


def test_the_alert_rules_of_the_repository_are_loaded(prometheus: str) -> None:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    expected = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    loaded = _get(prometheus + "/api/v1/rules")["data"]["groups"]
    assert expected <= {r["name"] for g in loaded for r in g["rules"]}


def test_a_target_written_to_the_targets_folder_is_scraped(prometheus: str) -> None:
    import prometheus_local

    port = urllib.parse.urlsplit(prometheus).port
    assert port
    job = f"selftest-{os.getpid()}"
    path = prometheus_local.write_targets(job, {job: port})  # Prometheus scrapes itself
    try:
        query = urllib.parse.urlencode({"query": f'up{{job="{job}"}}'})
        deadline = time.monotonic() + 60
        result: list = []
        while time.monotonic() < deadline and not result:
            result = _get(f"{prometheus}/api/v1/query?{query}")["data"]["result"]
            time.sleep(1)
        assert result and result[0]["value"][1] == "1", result
    finally:
        path.unlink()
