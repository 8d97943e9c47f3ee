"""Publishing billing's facts as billing does: per account (customer, currency) sequences, which
publish_events (numbering 1, 2, 3 by position) cannot express."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaProducer

from platform_events import EventData, new_envelope
from platform_kit.kafka import encode_headers
from platform_kit.outbox import kafka_headers
from tests.customer.test_quickbooks import wait_for


async def publish_billing(
    bootstrap: str, tenant_id: str, customer_id: str, items: list[tuple[EventData, int]]
) -> list[uuid.UUID]:
    """(data, sequence) pairs to billing.balances, in order, keyed by the customer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    ids = []
    try:
        for data, sequence in items:
            envelope = new_envelope(
                data, source="billing", subject=customer_id, tenant_id=tenant_id, sequence=sequence
            )
            ids.append(envelope.id)
            await producer.send_and_wait(
                "billing.balances",
                envelope.model_dump_json().encode(),
                key=customer_id.encode(),
                headers=encode_headers(kafka_headers(envelope)),
            )
    finally:
        await producer.stop()
    return ids


async def publish_and_wait(
    bootstrap: str, pool, tenant_id: str, customer_id: str, items: list[tuple[EventData, int]]
) -> None:  # type: ignore[no-untyped-def]
    """Publishes, then waits until the customer service consumed the last one (same partition,
    so every earlier one was consumed too)."""
    ids = await publish_billing(bootstrap, tenant_id, customer_id, items)
    await wait_for(
        pool,
        "SELECT count(*) FROM inbox WHERE consumer = 'customer' AND event_id = $1",
        ids[-1],
        expected=1,
    )
