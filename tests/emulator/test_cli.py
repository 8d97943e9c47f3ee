"""The command line entry point and the snapshot file (a subprocess, as the platform runs it)."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from quickbooks.objects.customer import Customer

from qbo_emulator.testing import EmulatorServer
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
