"""The run_platform supervisor's restart counts as Prometheus metrics: every restart it makes is
counted, including a process that dies again before it ever gets ready (which a scrape of the
process itself would never see)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from prometheus_client import generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))

from supervisor import Supervised, Supervisor


def crashing() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])


def test_each_restart_of_a_dying_process_is_counted_in_the_metrics(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "status.json", base=0.05, cap=0.2, log=lambda _: None)
    # Nothing answers on port 9: the process never gets ready, as one that crashes at start.
    supervisor.add(Supervised("crashy", "http://127.0.0.1:9", "/readyz", crashing, crashing()))
    registry = supervisor.metrics()
    deadline = time.monotonic() + 30
    while supervisor.procs[0].restarts < 3 and time.monotonic() < deadline:
        supervisor.tick()
        time.sleep(0.05)
    assert supervisor.procs[0].restarts >= 3
    text = generate_latest(registry).decode()
    made = supervisor.procs[0].restarts
    assert f'platform_process_restarts_total{{process="crashy"}} {float(made)}' in text, text
    assert 'platform_process_ready{process="crashy"} 0.0' in text
    supervisor.stopped()
    for proc in supervisor.procs:
        if proc.popen is not None:
            proc.popen.wait(10)
