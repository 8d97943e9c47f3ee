"""The stack command is idempotent: a second start while it is up starts nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STACK = [sys.executable, str(ROOT / "deploy" / "local" / "stack.py")]
KAFKA_PID = ROOT / ".state" / "kafka" / "kafka.pid"

pytestmark = pytest.mark.integration


def _without_overrides() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.pop("DATABASE_URL", None)
    return env


def test_second_start_reports_up_and_starts_nothing(stack_env):
    if not KAFKA_PID.exists():
        pytest.skip("the servers under test are not the project's local stack")
    pid_before = KAFKA_PID.read_text()
    result = subprocess.run(
        [*STACK, "start"], env=_without_overrides(), capture_output=True, text=True, check=True
    )
    assert "already up; started nothing" in result.stdout
    assert KAFKA_PID.read_text() == pid_before
    status = subprocess.run(
        [*STACK, "status"], env=_without_overrides(), capture_output=True, text=True
    )
    assert status.returncode == 0
    assert "kafka: up" in status.stdout and "postgres: up" in status.stdout
