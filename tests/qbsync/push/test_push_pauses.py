"""A company QuickBooks throttled (429) is paused as a whole. The pause is visible in the sync
status API, per company and on each row, and a restarted qb-sync waits it out instead of earning
another 429 (and another pause) with its first call."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI

from qb_sync.qbo.errors import Throttled
from qb_sync.store.realm_pauses import RealmPauses
from qbo_emulator.testing import EmulatorServer
from tests.qbsync.conftest import wait_for
from tests.qbsync.push.conftest import PushWorld
from tests.qbsync.push.test_gateway import IssuedTokens, gateway, new_realm


async def test_a_throttled_company_shows_its_pause_per_company_and_per_row(
    world: PushWorld,
) -> None:
    # Two calls a minute: pushing three customers earns 429s, so qb-sync keeps pausing.
    world.emulator.set_limits(world.realm_id, per_minute=2)
    ids = []
    for i in range(3):
        ids.append((await world.create_customer(company_name=f"Paused Co {i}"))["customer_id"])
    for cid in ids:
        await world.push(cid)

    async def row_paused() -> dict[str, Any] | None:
        for cid in ids:
            row = await world.row(cid)
            if row and row["status"] == "pending" and row["paused_until"]:
                return row
        return None

    row = await wait_for(row_paused, 30, interval=0.02)
    assert "429" in row["pause_reason"]

    async def company_paused() -> dict[str, Any] | None:
        reply = await world.sync.get("/quickbooks/sync/pauses")
        assert reply.status_code == 200, reply.text
        return next((p for p in reply.json()["items"] if p["realm_id"] == world.realm_id), None)

    pause = await wait_for(company_paused, 30, interval=0.02)
    assert datetime.fromisoformat(pause["paused_until"]) > datetime.fromisoformat(
        pause["paused_at"]
    )
    assert "429" in pause["reason"]

    world.emulator.set_limits(world.realm_id)  # QuickBooks' own limits again
    for cid in ids:
        row = await world.wait_status(cid, "synced", 90)
    await asyncio.sleep(0.5)  # the last pause (0.3-0.36 s here) is over
    assert (await world.row(ids[0]))["paused_until"] is None  # type: ignore[index]
    assert await company_paused() is None


async def test_a_restarted_gateway_waits_out_a_recorded_pause(
    push_app: FastAPI, push_emulator: EmulatorServer
) -> None:
    realm = new_realm(push_emulator)
    push_emulator.set_limits(realm, per_second=1)
    pauses = RealmPauses(push_app.state.runtime.db)
    settings: dict[str, Any] = {
        "qbo_requests_per_second": 100,
        "qbo_call_retries": 0,
        "qbo_throttle_wait_seconds": 2.0,
    }
    before = gateway(push_emulator, IssuedTokens(), **settings)
    before.pauses = pauses

    def query(qb: Any) -> Any:
        return qb.query("SELECT * FROM Customer")

    await before.call("t", realm, "q", query)
    with pytest.raises(Throttled):  # the second call within a second: paused for 2-2.4 s
        await before.call("t", realm, "q", query)
    before.close()
    assert push_emulator.throttled_count(realm) == 1

    # A new process: its limiter knows nothing, the recorded pause does.
    after = gateway(push_emulator, IssuedTokens(), **settings)
    after.pauses = pauses
    started = time.monotonic()
    await after.call("t", realm, "q", query)
    after.close()
    assert time.monotonic() - started >= 1.5
    assert push_emulator.throttled_count(realm) == 1  # no second 429
    assert await pauses.remaining(realm) < 0.5
