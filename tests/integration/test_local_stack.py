"""The stack command is idempotent: a second start while it is up starts nothing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
STACK = [sys.executable, str(ROOT / "deploy" / "local" / "stack.py")]
# `./dev test` runs the tests on a stack of their own (STACK_STATE_DIR, see `dev`).
KAFKA_PID = Path(os.environ.get("STACK_STATE_DIR", ROOT / ".state")) / "kafka" / "kafka.pid"

pytestmark = pytest.mark.integration


def _without_overrides() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.pop("DATABASE_URL", None)
    env.pop("PROMETHEUS_URL", None)
    env.pop("PROMETHEUS_TARGETS_DIR", None)
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
    assert "prometheus: up" in status.stdout


def _isolated_stack_env(tmp_path: Path) -> dict[str, str]:
    """A stack of its own: its own state folder and ports, nothing given from outside."""
    env = _without_overrides()
    env.update(
        STACK_STATE_DIR=str(tmp_path / "state"),
        STACK_KAFKA_PORT=str(free_port()),
        STACK_KAFKA_CONTROLLER_PORT=str(free_port()),
        STACK_PG_PORT=str(free_port()),
    )
    return env


def _processes_with(text: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def test_a_stale_pid_file_naming_an_unrelated_process_is_neither_up_nor_signalled(tmp_path):
    env = _isolated_stack_env(tmp_path)
    unrelated = subprocess.Popen(["sleep", "120"])
    try:
        kafka_dir = Path(env["STACK_STATE_DIR"]) / "kafka"
        kafka_dir.mkdir(parents=True)
        (kafka_dir / "kafka.pid").write_text(str(unrelated.pid))  # as if the pid were reused
        status = subprocess.run([*STACK, "status"], env=env, capture_output=True, text=True)
        assert "kafka: down" in status.stdout
        subprocess.run([*STACK, "stop"], env=env, capture_output=True, text=True, check=True)
        assert unrelated.poll() is None, "stop must not signal a process it did not start"
    finally:
        unrelated.kill()
        unrelated.wait()


def test_missing_tools_print_the_exact_apt_get_line_not_a_traceback(tmp_path):
    env = _isolated_stack_env(tmp_path)
    bare = tmp_path / "bin"  # a PATH without java, mvn, PostgreSQL or Prometheus
    bare.mkdir()
    for tool in ("runuser", "test"):
        found = shutil.which(tool)
        if found:
            (bare / tool).symlink_to(found)
    env.update(PATH=str(bare), STACK_PG_BIN=str(tmp_path / "no-pg"), XDG_CACHE_HOME=str(tmp_path))
    result = subprocess.run([*STACK, "start"], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if "apt-get install -y" in x)
    packages = line.split("--no-install-recommends", 1)[1].split()
    assert packages == ["default-jre-headless", "maven", "postgresql", "prometheus"]  # no apt-cache


def _fake_apt_cache(tmp_path: Path) -> Path:
    """apt-cache as on Debian 13: openjdk-17 is gone, openjdk-21 is there."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    script = bin_dir / "apt-cache"
    script.write_text(
        "#!/bin/sh\n"
        'case "$2" in\n'
        '  openjdk-21-jre-headless) echo "$2:"; echo "  Installed: (none)";'
        ' echo "  Candidate: 21.0.8+9-1" ;;\n'
        '  *) echo "$2:"; echo "  Installed: (none)"; echo "  Candidate: (none)" ;;\n'
        "esac\n"
    )
    script.chmod(0o755)
    return bin_dir


def test_without_openjdk_17_both_commands_pick_a_newer_jre_that_exists(tmp_path):
    fake = _fake_apt_cache(tmp_path)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    dev_function = subprocess.run(
        ["bash", "-c", f"eval \"$(sed -n '/^jre_package()/,/^}}/p' {ROOT / 'dev'})\"; jre_package"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert dev_function.stdout.strip() == "openjdk-21-jre-headless"
    from_stack = subprocess.run(
        [sys.executable, "-c", "import stack; print(stack.jre_package())"],
        env=env,
        cwd=ROOT / "deploy" / "local",
        capture_output=True,
        text=True,
        check=True,
    )
    assert from_stack.stdout.strip() == "openjdk-21-jre-headless"


REAP_CHECK = """
import os, stack
from tests.support.ports import free_port
stack.STATE.mkdir(parents=True, exist_ok=True)
stack.start_kafka()
pid = stack.kafka_pid()
stack.stop_kafka()
try:
    os.waitpid(pid, os.WNOHANG)
    print("not reaped")
except ChildProcessError:
    print("reaped", "zombie" if os.path.exists(f"/proc/{pid}") else "gone")
"""


def test_a_kafka_started_by_this_process_is_reaped_when_stopped(tmp_path):
    """Under ./dev up, Kafka is a child of run_platform: stopping it must not leave a zombie
    that still looks alive (and makes stop wait its whole timeout, then SIGKILL)."""
    env = {**_isolated_stack_env(tmp_path), "STACK_KAFKA_HEAP": "256m"}
    result = subprocess.run(
        [sys.executable, "-c", REAP_CHECK],
        env=env,
        cwd=ROOT / "deploy" / "local",
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.stdout.strip().splitlines()[-1] == "reaped gone", result.stdout + result.stderr
    assert "SIGKILL" not in result.stdout


def test_run_platform_stops_what_it_started_when_a_service_cannot_start(stack_env, tmp_path):
    ports = {name: free_port() for name in ("QBO_EMULATOR", "BILLING", "QB_SYNC", "OPS_CONSOLE")}
    with socket.socket() as taken:  # the customer service cannot bind its port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {
            **os.environ,
            **stack_env,
            "STACK_STATE_DIR": str(tmp_path / "state"),
            "CUSTOMER_PORT": str(taken.getsockname()[1]),
            **{f"{name}_PORT": str(port) for name, port in ports.items()},
        }
        env.pop("QBO_CLIENT_ID", None)
        result = subprocess.run(
            [sys.executable, str(ROOT / "deploy" / "local" / "run_platform.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 1
    assert "could not start: customer exited" in result.stderr
    assert _processes_with(f"--port {ports['QBO_EMULATOR']}") == [], "the emulator was left running"
