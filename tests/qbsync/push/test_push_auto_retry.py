"""Rows that failed during an outage are retried on their own once the company answers again
(no one has to press retry); a row QuickBooks refused for what it is stays failed."""

from __future__ import annotations

import asyncio

import pytest

from tests.qbsync.push.conftest import PushWorld


async def test_failed_rows_sync_on_their_own_after_an_outage_and_refused_ones_stay_failed(
    world: PushWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = world.app.state.push.settings
    monkeypatch.setattr(settings, "push_auto_retry_base_seconds", 0.5)
    monkeypatch.setattr(settings, "push_auto_retry_max_seconds", 1.0)
    monkeypatch.setattr(settings, "push_auto_retry_check_seconds", 0.2)

    # QuickBooks refuses one customer for what it is (a 400 fault): that one needs a person.
    refused = (await world.create_customer(company_name="Refused Co"))["customer_id"]
    world.emulator.add_fault(
        "error", realm=world.realm_id, method="POST", path="/customer$", status=400, body="json"
    )
    await world.push(refused)
    refused_row = await world.wait_status(refused, "failed")
    assert refused_row["last_error_code"] not in ("transient", "429", "authexpired"), refused_row

    # An outage: every call answers 503 until it ends; each push uses up its attempts.
    world.emulator.set_faults(fail_next_n_5xx=100_000, realm_id=world.realm_id)
    ids = [
        (await world.create_customer(company_name=f"Outage Co {i}"))["customer_id"]
        for i in range(3)
    ]
    for cid in ids:
        await world.push(cid)
    for cid in ids:
        row = await world.wait_status(cid, "failed")
        assert row["last_error_code"] == "transient"

    world.emulator.set_faults()  # the outage ends; nobody presses retry
    rows = await asyncio.gather(*(world.wait_status(cid, "synced", 30) for cid in ids))
    assert {len(world.qb_named(f"Outage Co {i}")) for i in range(3)} == {1}
    assert all(r["qb_customer_id"] for r in rows)

    still = await world.row(refused)
    assert still is not None and still["status"] == "failed"
    assert still["last_error_code"] == refused_row["last_error_code"]
    assert world.qb_named("Refused Co") == []
