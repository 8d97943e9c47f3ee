"""Builders and helpers for billing tests: events, publishing envelopes, waiting on the database."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from billing_service.handlers.apply_billing_events import ApplyBillingEvents
from platform_events import Envelope, EventData, new_envelope, parse_event
from platform_events.contracts import billing
from platform_events.contracts.customer import CustomerCreated, CustomerSnapshot
from platform_kit.db import apply_migrations, create_pool, service_migrations
from platform_kit.inbox import Failure, InboundEvent
from platform_kit.kafka import encode_headers
from platform_kit.outbox import kafka_headers


def new_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def snapshot(customer_id: str, **overrides: Any) -> CustomerSnapshot:
    fields: dict[str, Any] = {
        "customer_id": customer_id,
        "company_name": f"Company {customer_id}",
        "tracking_number": f"TR-{customer_id}",
        "currency": "USD",
        "version": 1,
    }
    fields.update(overrides)
    return CustomerSnapshot(**fields)


def customer_created(customer_id: str, **overrides: Any) -> CustomerCreated:
    return CustomerCreated(customer=snapshot(customer_id, **overrides))


def money(amount: int, currency: str = "USD") -> dict[str, Any]:
    return {"amount_minor": amount, "currency": currency}


def invoice(
    customer: str,
    invoice_id: str,
    amount: int,
    currency: str = "USD",
    order_id: str | None = None,
    due: date | None = None,
) -> billing.InvoiceIssued:
    return billing.InvoiceIssued(
        customer_id=customer,
        invoice_id=invoice_id,
        amount=money(amount, currency),
        order_id=order_id,
        due_date=due,
    )


def payment(
    customer: str, payment_id: str, amount: int, currency: str = "USD", **kw: Any
) -> billing.PaymentReceived:
    return billing.PaymentReceived(
        customer_id=customer, payment_id=payment_id, amount=money(amount, currency), **kw
    )


def envelope(
    data: EventData, tenant: str, subject: str | None = None, time: datetime | None = None
) -> Envelope:
    subject = subject or getattr(data, "customer_id", None) or data.customer.customer_id  # type: ignore[attr-defined]
    return new_envelope(
        data, source="test", subject=subject, tenant_id=tenant, sequence=1, time=time
    )


async def publish(bootstrap: str, topic: str, envelopes: list[Envelope]) -> None:
    """Publish envelopes as they are (publishing one twice is a duplicate by event id)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        futures = [
            await producer.send(
                topic,
                e.model_dump_json().encode(),
                key=e.subject.encode(),
                headers=encode_headers(kafka_headers(e)),
            )
            for e in envelopes
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def wait_for(
    check: Callable[[], Awaitable[Any]], timeout: float = 30, interval: float = 0.1
) -> Any:
    """Poll until `check()` returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")


class TopicTail:
    """Reads what arrives on a topic after `start()` (never the topic's whole history)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.consumer: AIOKafkaConsumer | None = None
        self.buffer: list[Any] = []

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await self.consumer.start()
        parts = self.consumer.partitions_for_topic(self.topic)
        if not parts:
            await self.consumer._client.force_metadata_update()
            parts = self.consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)

    async def collect(
        self, predicate: Callable[[Any], bool], expected: int, timeout: float = 20
    ) -> list[Any]:
        """Matching records, oldest first; records that do not match stay for a later call."""
        assert self.consumer is not None
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.buffer if predicate(r)]
            if len(found) >= expected or time.monotonic() > deadline:
                break
            batch = await self.consumer.getmany(timeout_ms=300, max_records=5000)
            for records in batch.values():
                self.buffer += records
        taken = found[:expected]
        self.buffer = [r for r in self.buffer if all(r is not t for t in taken)]
        return taken

    async def stop(self) -> None:
        if self.consumer:
            await self.consumer.stop()


def inbound(e: Envelope, topic: str, offset: int = 0) -> InboundEvent:
    """An envelope as the kit's consumer hands it to a handler (decoded, with its record)."""
    value = e.model_dump_json().encode()
    key = e.subject.encode()
    record = ConsumerRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=len(value),
        headers=tuple(encode_headers(kafka_headers(e))),
    )
    envelope, data = parse_event(value)
    return InboundEvent(envelope, data, record)


async def run_poll(pool: asyncpg.Pool, consumer: str, events: list[InboundEvent]) -> list[Failure]:
    """One poll the way the kit runs it: the handler inside one database transaction."""
    async with pool.acquire() as conn, conn.transaction():
        return await ApplyBillingEvents().apply_batch(conn, consumer, events)


@asynccontextmanager
async def ledger_schema(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A fresh billing schema (migrated), dropped afterwards."""
    schema = f"billing_t_{uuid.uuid4().hex[:10]}"
    pool = await create_pool(database_url, schema, min_size=1, max_size=4)
    try:
        await apply_migrations(pool, schema, service_migrations("billing_service.migrations"))
        yield pool
    finally:
        await pool.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await pool.close()
