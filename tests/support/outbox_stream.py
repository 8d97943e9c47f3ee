"""Write a stream of outbox rows the way a service would, and check what reached the topic."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

import asyncpg

from platform_events import new_envelope
from platform_events.contracts.billing import InvoiceVoided
from platform_kit.outbox import OutgoingEvent, add_to_outbox


async def write_stream(
    pool: asyncpg.Pool, topic: str, total: int, keys: int, per_tx: int = 50, pause: float = 0.0
) -> list[str]:
    """Insert `total` events over `keys` keys, `per_tx` per transaction; returns the event ids."""
    sequence: dict[str, int] = defaultdict(int)
    ids: list[str] = []
    written = 0
    while written < total:
        batch = []
        for i in range(min(per_tx, total - written)):
            key = f"cust-{(written + i) % keys}"
            sequence[key] += 1
            envelope = new_envelope(
                InvoiceVoided(customer_id=key, invoice_id=f"inv-{written + i}"),
                source="test",
                subject=key,
                tenant_id="t1",
                sequence=sequence[key],
            )
            ids.append(str(envelope.id))
            batch.append(OutgoingEvent(envelope, topic, key))
        async with pool.acquire() as conn, conn.transaction():
            await add_to_outbox(conn, batch)
        written += len(batch)
        if pause:
            await asyncio.sleep(pause)
    return ids


def check_delivery(records: list[Any], expected_ids: list[str]) -> dict[str, int]:
    """Every event arrived; per key the first deliveries are in sequence order; a duplicate is
    the same event (same id, same bytes). Returns counts for reporting."""
    first_seen: dict[str, bytes] = {}
    last_seq: dict[str, int] = {}
    duplicates = 0
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        body = json.loads(record.value)
        event_id = body["id"]
        if event_id in first_seen:
            assert first_seen[event_id] == record.value, "same id re-sent with different content"
            duplicates += 1
            continue
        first_seen[event_id] = record.value
        key = record.key.decode()
        assert body["subject"] == key
        assert body["sequence"] == last_seq.get(key, 0) + 1, (
            f"key {key}: sequence {body['sequence']} after {last_seq.get(key, 0)}"
        )
        last_seq[key] = body["sequence"]
    missing = set(expected_ids) - set(first_seen)
    assert not missing, f"{len(missing)} events lost"
    return {"delivered": len(first_seen), "duplicates": duplicates}
