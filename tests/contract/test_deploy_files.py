"""The Docker and Kubernetes files name the same settings and versions the local stack uses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from platform_kit.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {name.upper() for name in ServiceSettings.model_fields}


def test_compose_is_valid_and_uses_the_pinned_kafka_version():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    pom = (ROOT / "deploy/local/kafka/pom.xml").read_text()
    pinned = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert pinned
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{pinned.group(1)}"
    stack = (ROOT / "deploy/local/stack.py").read_text()
    assert f'KAFKA_VERSION = "{pinned.group(1)}"' in stack


def test_compose_services_only_set_settings_the_services_read():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in ("customer", "billing", "qb-sync"):
        env = compose["services"][name]["environment"]
        platform_keys = {k for k in env if not k.startswith("QBO_")}
        assert platform_keys <= SETTINGS, f"{name}: unknown settings {platform_keys - SETTINGS}"
        assert {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"} <= set(env)


def test_kubernetes_manifests_parse_and_probe_the_ops_endpoints():
    for path in (ROOT / "deploy/k8s").glob("*.yaml"):
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert documents, path
        for doc in documents:
            if doc["kind"] == "Deployment":
                container = doc["spec"]["template"]["spec"]["containers"][0]
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            if doc["kind"] == "ConfigMap":
                assert set(doc["data"]) <= SETTINGS


def test_dashboards_only_chart_metrics_the_kit_exports():
    from platform_kit import metrics

    exported = {m._name for m in vars(metrics).values() if hasattr(m, "_name")}
    for path in (ROOT / "deploy/dashboards").glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            names = set(re.findall(r"platform_[a-z_]+", panel["targets"][0]["expr"]))
            base = {re.sub(r"_(total|bucket|count|sum)$", "", n) for n in names}
            assert base <= exported | {n.removesuffix("_total") for n in exported}, panel["title"]


def test_every_service_has_a_dockerfile_that_compose_builds():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in ("customer", "billing", "qb-sync", "qbo-emulator"):
        dockerfile = compose["services"][name]["build"]["dockerfile"]
        assert (ROOT / dockerfile).exists(), dockerfile
        assert dockerfile == f"services/{name}/Dockerfile"


def test_compose_prometheus_loads_the_alert_rules_and_scrapes_every_service():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    prometheus = compose["services"]["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    assert (ROOT / "deploy/prometheus/alerts.yml").exists()
    scraped = {
        target.split(":")[0]
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    services = {name for name, s in compose["services"].items() if "build" in s}
    assert services - scraped <= {"qbo-emulator"}, "a service Prometheus does not scrape"
