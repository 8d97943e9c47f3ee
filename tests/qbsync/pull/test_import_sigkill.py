"""A full import survives SIGKILL: qb-sync runs as `python -m qb_sync`, is killed once its first
page is committed, restarts, and finishes from the cursor: every customer mirrored exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from platform_kit.auth import create_token
from qbo_emulator.testing import EmulatorServer
from tests.support.ports import free_port

from .conftest import TENANT_PREFIX, VERIFIER, eventually

COUNT = 2_000


class QbSyncProcess:
    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env, self.port = env, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qb_sync"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def qbsync_process(
    stack_env: dict[str, str], emulator: EmulatorServer, qbsync_app: FastAPI
) -> Iterator[QbSyncProcess]:
    # The in-process app shares the database: it must leave this import to the subprocess.
    worker = qbsync_app.state.pull.worker
    worker.paused = True
    port = free_port()
    env = {
        **os.environ,
        **stack_env,
        "HTTP_PORT": str(port),
        "QBO_BASE_URL": emulator.base_url,
        "QBO_WEBHOOK_VERIFIER_TOKEN": VERIFIER,
        "PULL_TICK_SECONDS": "0.1",
        "PULL_CDC_INTERVAL_SECONDS": "3600",
        "LOG_LEVEL": "WARNING",
        "PUSH_TENANT_PREFIX": TENANT_PREFIX,
        "PULL_TENANT_PREFIX": TENANT_PREFIX,
    }
    process = QbSyncProcess(env, port)
    try:
        yield process
    finally:
        process.stop()
        worker.paused = False


async def test_an_import_killed_mid_way_finishes_after_restart_with_each_customer_once(
    emulator: EmulatorServer, qbsync_process: QbSyncProcess, database_url: str
) -> None:
    tenant_id = f"{TENANT_PREFIX}{uuid.uuid4().hex[:10]}"
    realm_id = str(8_000_000_000 + uuid.uuid4().int % 1_000_000_000)
    emulator.seed_realm(realm_id)
    emulator.seed(
        realm_id, "customers", [{"DisplayName": f"Kill {realm_id} #{i}"} for i in range(COUNT)]
    )
    db = await asyncpg.connect(database_url, server_settings={"search_path": "qb_sync"})
    try:
        token = await create_token(db, tenant_id, ["admin"])
        qbsync_process.start()
        base = f"http://127.0.0.1:{qbsync_process.port}"
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}
        ) as client:

            async def up() -> bool:
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, timeout=30)
            reply = await client.post("/quickbooks/connections", json={"realm_id": realm_id})
            assert reply.status_code == 201, reply.text

            async def cursor() -> int:
                value = await db.fetchval(
                    "SELECT import_after_id FROM pull_state WHERE tenant_id = $1 AND realm_id = $2",
                    tenant_id,
                    realm_id,
                )
                return int(value or 0)

            await eventually(cursor, timeout=30, interval=0.02)
            qbsync_process.kill()  # mid-import: at least one page committed, not all
            killed_at = await cursor()
            assert 0 < killed_at < COUNT

            qbsync_process.start()
            await eventually(up, timeout=30)

            async def finished() -> bool:
                return bool(
                    await db.fetchval(
                        """SELECT import_requested_at IS NULL FROM pull_state
                            WHERE tenant_id = $1 AND realm_id = $2""",
                        tenant_id,
                        realm_id,
                    )
                )

            await eventually(finished, timeout=60)
        rows = await db.fetch(
            """SELECT convert_from(payload, 'UTF8')::jsonb -> 'data' ->> 'qb_customer_id' AS id
                 FROM test_pull_outbox_copy WHERE topic = 'qb.customers' AND key LIKE $1""",
            f"{realm_id}:%",
        )
        ids = [r["id"] for r in rows]
        assert len(ids) == COUNT
        assert len(set(ids)) == COUNT  # nothing mirrored twice across the crash
    finally:
        await db.close()
