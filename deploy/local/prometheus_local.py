"""The local stack's Prometheus (Debian's `prometheus` package): a config generated into the
stack's state folder, the project's alert rules loaded from deploy/prometheus/alerts.yml, and
scrape targets read from `<state>/prometheus/targets/*.json` (file_sd). Whoever starts services
writes their ports there, so services on moved ports are scraped without editing any config.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pidfiles import pid_alive, port_open, terminate

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("STACK_STATE_DIR", ROOT / ".state"))
PORT = int(os.environ.get("STACK_PROMETHEUS_PORT", "19090"))
# Short, so a local run and the tests see data within seconds; the load is a few scrapes.
SCRAPE_INTERVAL = os.environ.get("STACK_PROMETHEUS_SCRAPE_INTERVAL", "2s")
ALERT_RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"


def log(message: str) -> None:
    print(f"[stack] {message}", flush=True)


def _dir() -> Path:
    return STATE / "prometheus"


def prometheus_url() -> str:
    """PROMETHEUS_URL, else the running one's (it may have been started on another port), else
    where one would start."""
    if os.environ.get("PROMETHEUS_URL"):
        return os.environ["PROMETHEUS_URL"]
    recorded = _dir() / "url"
    if recorded.exists() and prometheus_pid():
        return recorded.read_text().strip()
    return f"http://127.0.0.1:{PORT}"


def prometheus_targets_dir() -> Path:
    given = os.environ.get("PROMETHEUS_TARGETS_DIR")
    return Path(given) if given else _dir() / "targets"


def prometheus_pid() -> int | None:
    return pid_alive(_dir() / "prometheus.pid", expect=str(_dir() / "prometheus.yml"))


def config() -> str:
    """The same jobs as deploy/prometheus/prometheus.yml (Docker), with file_sd targets."""
    return json.dumps(  # JSON is YAML; no template to keep in step
        {
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
            "rule_files": [str(ALERT_RULES)],
            "scrape_configs": [
                {
                    "job_name": "customer-platform",
                    "metrics_path": "/metrics",
                    "file_sd_configs": [
                        {
                            "files": [str(prometheus_targets_dir() / "*.json")],
                            "refresh_interval": "5s",
                        }
                    ],
                }
            ],
        },
        indent=2,
    )


def write_targets(name: str, services: dict[str, int]) -> Path:
    """Scrape these services (name -> port on 127.0.0.1); one file per caller, replaced whole so
    Prometheus never reads half of it. `job` is the service's name, as under Docker."""
    directory = prometheus_targets_dir()
    directory.mkdir(parents=True, exist_ok=True)
    groups = [
        {"targets": [f"127.0.0.1:{port}"], "labels": {"job": service}}
        for service, port in services.items()
    ]
    path = directory / f"{name}.json"
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(groups, indent=2))
    partial.rename(path)
    return path


def start_prometheus() -> None:
    if os.environ.get("PROMETHEUS_URL"):
        log("Prometheus: using PROMETHEUS_URL, starting nothing")
        return
    directory = _dir()
    config_file = directory / "prometheus.yml"
    if prometheus_pid():
        reload_prometheus()
        log(f"Prometheus already up on {prometheus_url()}")
        return
    if port_open(PORT):
        sys.exit(f"port {PORT} is taken by another program; set STACK_PROMETHEUS_PORT")
    binary = shutil.which("prometheus")
    if not binary:
        sys.exit("prometheus not found; install it with: apt-get install -y prometheus")
    prometheus_targets_dir().mkdir(parents=True, exist_ok=True)
    config_file.write_text(config())
    log(f"Prometheus: starting on {prometheus_url()}")
    with open(directory / "server.log", "ab") as server_log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={directory / 'data'}",
                "--storage.tsdb.retention.time=2d",
                f"--web.listen-address=127.0.0.1:{PORT}",
                "--web.enable-lifecycle",  # POST /-/reload after editing the alert rules
            ],
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal must not kill it behind our back
        )
    (directory / "prometheus.pid").write_text(str(process.pid))
    (directory / "url").write_text(f"http://127.0.0.1:{PORT}")
    _wait_ready(process)


def reload_prometheus() -> None:
    """Rewrite the config and reload it, so edited alert rules take effect without a restart."""
    if os.environ.get("PROMETHEUS_URL") or not prometheus_pid():
        return
    (_dir() / "prometheus.yml").write_text(config())
    request = urllib.request.Request(prometheus_url() + "/-/reload", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30):
            pass
    except OSError as error:  # it keeps running on the rules it has
        log(f"Prometheus: could not reload its configuration ({error})")


def _wait_ready(process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (_dir() / "server.log").read_text()[-3000:]
            sys.exit(f"Prometheus exited with {process.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(prometheus_url() + "/-/ready", timeout=2) as answer:
                if answer.status == 200:
                    log(f"Prometheus ready: {prometheus_url()}")
                    return
        except OSError:
            pass
        time.sleep(0.3)
    sys.exit(f"Prometheus not ready in time; see {_dir() / 'server.log'}")


def stop_prometheus() -> None:
    pid = prometheus_pid()
    if os.environ.get("PROMETHEUS_URL") or not pid:
        return
    log("Prometheus: stopping")
    terminate(pid, prometheus_pid)
    (_dir() / "prometheus.pid").unlink(missing_ok=True)
