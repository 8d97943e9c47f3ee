"""Keeps the platform's processes running under `./dev up`: a process that dies is restarted with
backoff and logged, and what happened is written to a status file the ops console reads.

Backoff: a process that had become ready before it died is restarted after `base` seconds (one
crash, or a kill, is not a loop); one that dies again before it gets ready waits twice as long
each time, up to `cap`, so a service that cannot start does not spin the machine.

Status file (JSON, replaced whole on each change):
    {"updated_at": "...", "services": {"customer": {"url", "pid", "state", "restarts",
     "last_exit_code", "last_exit_at", "next_start_at"}, ...}}
with state one of starting | ready | backoff | stopped.

The same counts are Prometheus metrics (`metrics()`, served by run_platform.py and scraped with
the services): `platform_process_restarts_total{process}` counts every restart the supervisor
made, including those Prometheus would miss by `process_start_time_seconds` alone (a process that
dies again before the next scrape, or one waiting in backoff); `platform_process_ready{process}`
is 1 while the process answers its readiness check.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Supervised:
    name: str
    url: str
    ready_path: str
    spawn: Callable[[], subprocess.Popen[bytes]]
    popen: subprocess.Popen[bytes] | None = None
    state: str = "starting"
    restarts: int = 0
    failures_before_ready: int = 0  # consecutive deaths before getting ready: the backoff step
    last_exit_code: int | None = None
    last_exit_at: str | None = None
    next_start: float | None = None  # monotonic time of the scheduled restart
    extra: dict[str, Any] = field(default_factory=dict)


class Supervisor:
    def __init__(
        self,
        status_file: Path,
        *,
        base: float = 0.5,
        cap: float = 30.0,
        log: Callable[[str], None] = print,
    ) -> None:
        self.status_file = status_file
        self.base = base
        self.cap = cap
        self.log = log
        self.procs: list[Supervised] = []

    def add(self, proc: Supervised) -> None:
        """A process already started and ready (start-up itself is run_platform's job)."""
        proc.state = "ready"
        self.procs.append(proc)
        self.write_status()

    def tick(self) -> None:
        """One round: notice deaths, schedule and make restarts, notice readiness."""
        changed = False
        for proc in self.procs:
            changed |= self._step(proc)
        if changed:
            self.write_status()

    def _step(self, proc: Supervised) -> bool:
        if proc.state in ("starting", "ready") and proc.popen and proc.popen.poll() is not None:
            code = proc.popen.returncode
            if proc.state == "starting":
                proc.failures_before_ready += 1
            else:
                proc.failures_before_ready = 0
            delay = min(self.cap, self.base * 2**proc.failures_before_ready)
            proc.last_exit_code, proc.last_exit_at = code, _now_iso()
            proc.state, proc.next_start = "backoff", time.monotonic() + delay
            self.log(f"{proc.name} exited with {code}; restarting in {delay:.1f}s")
            return True
        if proc.state == "backoff" and proc.next_start and time.monotonic() >= proc.next_start:
            proc.popen = proc.spawn()
            proc.restarts += 1
            proc.state, proc.next_start = "starting", None
            self.log(f"{proc.name} restarted (pid {proc.popen.pid}, restart {proc.restarts})")
            return True
        if proc.state == "starting" and self._answers(proc):
            proc.state = "ready"
            self.log(f"{proc.name} ready again")
            return True
        return False

    @staticmethod
    def _answers(proc: Supervised) -> bool:
        with contextlib.suppress(Exception):
            with urllib.request.urlopen(proc.url + proc.ready_path, timeout=0.5) as response:
                return response.status == 200
        return False

    def stopped(self) -> None:
        for proc in self.procs:
            proc.state = "stopped"
        self.write_status()

    def status(self) -> dict[str, Any]:
        services = {}
        for proc in self.procs:
            wait = proc.next_start - time.monotonic() if proc.next_start else None
            services[proc.name] = {
                "url": proc.url,
                "pid": proc.popen.pid if proc.popen and proc.state != "backoff" else None,
                "state": proc.state,
                "restarts": proc.restarts,
                "last_exit_code": proc.last_exit_code,
                "last_exit_at": proc.last_exit_at,
                "next_start_in_seconds": round(max(wait, 0.0), 1) if wait is not None else None,
                **proc.extra,
            }
        return {"updated_at": _now_iso(), "services": services}

    def metrics(self) -> CollectorRegistry:
        """A registry whose metrics are read from this supervisor at each scrape."""
        registry = CollectorRegistry(auto_describe=True)
        registry.register(_SupervisorMetrics(self))
        return registry

    def write_status(self) -> None:
        self.status_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self.status_file.with_suffix(".partial")
        partial.write_text(json.dumps(self.status(), indent=2))
        partial.rename(self.status_file)  # readers never see half a file


class _SupervisorMetrics(Collector):
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        restarts = CounterMetricFamily(
            "platform_process_restarts",
            "Restarts the run_platform supervisor made of a process that died.",
            labels=["process"],
        )
        ready = GaugeMetricFamily(
            "platform_process_ready",
            "1 while the supervised process answers its readiness check, else 0.",
            labels=["process"],
        )
        for proc in list(self.supervisor.procs):  # the scrape runs on another thread
            restarts.add_metric([proc.name], proc.restarts)
            ready.add_metric([proc.name], 1 if proc.state == "ready" else 0)
        yield restarts
        yield ready
