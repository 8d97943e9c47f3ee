"""`./dev test`'s Prometheus stage: promtool checks the Docker config, the local stack's
generated config and the alert rules, runs the rules' unit tests, and this insists that every
alert has a unit test where it fires and one where it stays silent.

    python deploy/prometheus/check.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def promtool(*args: str, cwd: Path = HERE) -> None:
    result = subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"promtool {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


def untested_alerts() -> list[str]:
    """Alerts lacking a case that fires or a case that stays silent, as 'Name: fires'."""
    rules = yaml.safe_load((HERE / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    cases = yaml.safe_load((HERE / "alerts_test.yml").read_text())["tests"]
    seen = {(c["alertname"], bool(c["exp_alerts"])) for t in cases for c in t["alert_rule_test"]}
    return [
        f"{alert}: {'fires' if fires else 'stays silent'}"
        for alert in sorted(alerts)
        for fires in (True, False)
        if (alert, fires) not in seen
    ]


def local_config() -> str:
    """The config deploy/local/stack.py generates, as it would for this checkout."""
    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    import prometheus_local

    return prometheus_local.config()


def main() -> None:
    if not shutil.which("promtool"):
        sys.exit("promtool not found; install it with: apt-get install -y prometheus")
    promtool("check", "config", "prometheus.yml")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("STACK_STATE_DIR", tmp)
        (Path(tmp) / "prometheus.yml").write_text(local_config())
        promtool("check", "config", str(Path(tmp) / "prometheus.yml"))
    promtool("check", "rules", "alerts.yml")
    promtool("test", "rules", "alerts_test.yml")
    missing = untested_alerts()
    if missing:
        sys.exit("alerts without a unit test where they " + "; ".join(missing))
    print("[prometheus] config, rules and alert unit tests pass", flush=True)


if __name__ == "__main__":
    main()
