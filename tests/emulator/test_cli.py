"""The command line entry point and the snapshot file (a subprocess, as the platform runs it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from quickbooks.exceptions import AuthorizationException
from quickbooks.objects.customer import Customer

from qbo_emulator.testing import EmulatorServer, quickbooks_client
from tests.emulator.conftest import customer


def test_cli_serves_and_snapshot_survives_a_restart(tmp_path: Path) -> None:
    snapshot = tmp_path / "qbo.json"
    with EmulatorServer(subprocess_mode=True, snapshot=snapshot) as first:
        with urllib.request.urlopen(first.base_url + "/healthz", timeout=5) as reply:
            assert reply.status == 200
        tokens = first.add_realm(realm_id="4620816365000000001", name="Snapshot Co")
        created = customer("Persisted Co").save(qb=first.quickbooks(tokens), request_id="persist-1")
    assert snapshot.exists()
    with EmulatorServer(subprocess_mode=True, snapshot=snapshot) as second:
        qb = second.quickbooks(tokens)  # tokens survive too
        assert Customer.get(created.Id, qb=qb).DisplayName == "Persisted Co"
        again = customer("Other Name").save(qb=qb, request_id="persist-1")  # replay survives
        assert again.Id == created.Id


def test_cli_is_strict_by_default() -> None:
    with EmulatorServer(subprocess_mode=True, permissive=False, service_time_ms=None) as server:
        config = server.admin("GET", "/config")
        assert (config["permissive_auth"], config["auto_create_realms"]) == (False, False)
        server.seed_realm("4620816365000000201", customers=["Seeded Co"])
        for realm_id in ("4620816365000000201", "4620816365000000202"):  # seeded, unknown
            with pytest.raises(AuthorizationException) as exc:
                Customer.count(qb=quickbooks_client(server.base_url, realm_id))
            assert type(exc.value) is AuthorizationException and exc.value.error_code == 401
        assert "4620816365000000202" not in server.state()["realms"]


def test_cli_flags_opt_into_permissive_auth_and_set_the_service_time() -> None:
    flags = ["--permissive-auth", "--auto-create-realms", "--service-time-ms", "5"]
    with EmulatorServer(
        subprocess_mode=True, permissive=False, service_time_ms=None, args=flags
    ) as server:
        config = server.admin("GET", "/config")
        assert (config["permissive_auth"], config["auto_create_realms"]) == (True, True)
        assert config["service_time_ms"] == 5
        server.seed_realm("4620816365000000203", customers=["Seeded Co"])
        assert Customer.count(qb=quickbooks_client(server.base_url, "4620816365000000203")) == 1
        created = customer("First Call Co").save(
            qb=quickbooks_client(server.base_url, "4620816365000000204", access_token="any")
        )
        assert server.state("4620816365000000204")[created.Id]["DisplayName"] == "First Call Co"


def test_an_emulator_the_harness_started_stops_when_the_harness_is_killed() -> None:
    """A benchmark or test run killed without cleaning up (SIGKILL) leaves no emulator behind."""
    harness = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from qbo_emulator.testing import EmulatorServer\n"
            "emu = EmulatorServer(subprocess_mode=True).start()\n"
            "print(emu._process.pid, emu.base_url, flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert harness.stdout is not None
    pid_text, base_url = harness.stdout.readline().split()
    with urllib.request.urlopen(base_url + "/healthz", timeout=5) as reply:
        assert reply.status == 200
    harness.send_signal(signal.SIGKILL)
    harness.wait(timeout=10)
    deadline = time.monotonic() + 15
    try:
        while _alive(int(pid_text)):
            assert time.monotonic() < deadline, "the emulator outlived its harness"
            time.sleep(0.2)
    finally:
        if _alive(int(pid_text)):
            os.kill(int(pid_text), signal.SIGKILL)  # a failed run leaves nothing either
    with pytest.raises(OSError):
        urllib.request.urlopen(base_url + "/healthz", timeout=2)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited, its new parent just has not reaped it yet
