"""The consumer loop against the real broker and database: once-only effect, DLQ, moving on."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest
from prometheus_client import REGISTRY

from platform_events import new_envelope
from platform_events.contracts.billing import InvoiceVoided, PaymentReceived
from platform_events.money import Money
from platform_kit.consumer import ConsumerRunner
from platform_kit.inbox import InboundEvent, PermanentError
from platform_kit.kafka import decode_headers, encode_headers
from platform_kit.outbox import kafka_headers
from tests.support.kafka_io import publish_raw, read_all

pytestmark = pytest.mark.integration


class CountingHandler:
    """Counts invoices voided per customer; refuses or breaks on marked invoices."""

    async def apply(self, conn: asyncpg.Connection, event: InboundEvent) -> None:
        data = event.data
        assert isinstance(data, InvoiceVoided)
        if data.invoice_id == "poison":
            raise PermanentError("invoice 'poison' can never be voided")
        if data.invoice_id == "flaky":
            raise RuntimeError("this handler keeps failing")
        await conn.execute(
            """INSERT INTO counts (customer_id, n) VALUES ($1, 1)
               ON CONFLICT (customer_id) DO UPDATE SET n = counts.n + 1""",
            data.customer_id,
        )


@pytest.fixture
async def counts_table(kit_pool: asyncpg.Pool) -> asyncpg.Pool:
    await kit_pool.execute("CREATE TABLE counts (customer_id text PRIMARY KEY, n int NOT NULL)")
    return kit_pool


def voided(customer: str, invoice: str) -> bytes:
    envelope = new_envelope(
        InvoiceVoided(customer_id=customer, invoice_id=invoice),
        source="test",
        subject=customer,
        tenant_id="t1",
        sequence=1,
    )
    return envelope.model_dump_json().encode()


async def run_until(runner: ConsumerRunner, condition, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    runner.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not await condition():
            assert asyncio.get_running_loop().time() < deadline, "consumer did not get there"
            await asyncio.sleep(0.1)
    finally:
        await runner.stop()


def make_runner(pool, bootstrap, topic, **kwargs) -> ConsumerRunner:  # type: ignore[no-untyped-def]
    return ConsumerRunner(
        name=f"test-{uuid.uuid4().hex[:6]}",
        topics=[topic],
        pool=pool,
        bootstrap=bootstrap,
        handler=CountingHandler(),
        **kwargs,
    )


async def test_the_same_event_delivered_three_times_changes_state_once(
    counts_table, kafka_bootstrap, test_topic
):
    same = voided("alice", "inv-1")
    await publish_raw(kafka_bootstrap, test_topic, [same, same, same, voided("bob", "inv-2")])
    runner = make_runner(counts_table, kafka_bootstrap, test_topic)

    async def bob_seen() -> bool:
        return await counts_table.fetchval("SELECT n FROM counts WHERE customer_id='bob'") == 1

    await run_until(runner, bob_seen)
    assert await counts_table.fetchval("SELECT n FROM counts WHERE customer_id='alice'") == 1
    # A fresh consumer in the same group after restart re-reads nothing: offsets were committed.
    again = ConsumerRunner(
        name=runner.name,
        topics=[test_topic],
        pool=counts_table,
        bootstrap=kafka_bootstrap,
        handler=CountingHandler(),
    )
    again.start()
    await asyncio.sleep(2)
    await again.stop()
    assert again.applied == 0
    assert await counts_table.fetchval("SELECT n FROM counts WHERE customer_id='alice'") == 1


async def test_malformed_messages_go_to_the_dlq_with_their_reason_and_the_next_good_one_is_processed(
    counts_table, kafka_bootstrap, test_topic
):
    wrong_schema = json.dumps({"id": str(uuid.uuid4()), "type": "billing.invoice-voided.v1"})
    unknown_type = json.loads(voided("x", "y"))
    unknown_type["type"] = "billing.something-new.v9"
    misplaced = new_envelope(
        PaymentReceived(
            customer_id="x", payment_id="p", amount=Money(amount_minor=100, currency="USD")
        ),
        source="t",
        subject="x",
        tenant_id="t1",
        sequence=1,
    ).model_dump_json()
    float_sequence = json.loads(voided("x", "z"))
    float_sequence["sequence"] = 1.5
    bad = [
        b"\xff not json at all",
        wrong_schema.encode(),
        json.dumps(unknown_type).encode(),
        misplaced.encode(),
        json.dumps(float_sequence).encode(),
        voided("carol", "poison"),
    ]
    # One key, so all land on the same partition, before the good one.
    await publish_raw(kafka_bootstrap, test_topic, [*bad, voided("carol", "inv-ok")], key=b"carol")
    runner = make_runner(
        counts_table,
        kafka_bootstrap,
        test_topic,
        allowed_types={test_topic: {"billing.invoice-voided.v1"}},
    )

    async def carol_seen() -> bool:
        return await counts_table.fetchval("SELECT n FROM counts WHERE customer_id='carol'") == 1

    await run_until(runner, carol_seen)
    dead = sorted(
        await read_all(kafka_bootstrap, f"{test_topic}.dlq", expected=len(bad)),
        key=lambda d: d.offset,
    )
    assert [d.value for d in dead] == bad  # original bytes, in order
    reasons = [decode_headers(d.headers)["dlq-reason"] for d in dead]
    assert reasons[0].startswith("not JSON: ")
    assert reasons[1].startswith("schema violation: ") and "sequence" in reasons[1]
    assert reasons[2] == "unknown event type 'billing.something-new.v9'"
    assert reasons[3] == f"event type 'billing.payment-received.v1' does not belong on {test_topic}"
    assert reasons[4].startswith("schema violation: ") and "fractional part" in reasons[4]
    assert reasons[5] == "invoice 'poison' can never be voided"
    for record in dead:
        headers = decode_headers(record.headers)
        assert headers["dlq-source-topic"] == test_topic
        assert headers["dlq-consumer"] == runner.name
        assert headers["dlq-attempts"] == "1"
    counted = REGISTRY.get_sample_value(
        "platform_dead_letters_total", {"consumer": runner.name, "topic": test_topic}
    )
    assert counted == len(bad)


async def test_an_event_that_keeps_failing_is_retried_then_dead_lettered_with_attempts(
    counts_table, kafka_bootstrap, test_topic
):
    flaky = voided("dave", "flaky")
    envelope = json.loads(flaky)
    headers = encode_headers({"ce_type": envelope["type"], "ce_id": envelope["id"]})
    await publish_raw(kafka_bootstrap, test_topic, [flaky], key=b"dave", headers=headers)
    await publish_raw(kafka_bootstrap, test_topic, [voided("dave", "inv-ok")], key=b"dave")
    runner = make_runner(
        counts_table, kafka_bootstrap, test_topic, max_attempts=3, retry_base_seconds=0.05
    )

    async def dave_seen() -> bool:
        return await counts_table.fetchval("SELECT n FROM counts WHERE customer_id='dave'") == 1

    await run_until(runner, dave_seen)
    dead = await read_all(kafka_bootstrap, f"{test_topic}.dlq", expected=1)
    headers = decode_headers(dead[0].headers)
    assert headers["dlq-attempts"] == "3"
    assert headers["dlq-error-type"] == "RuntimeError"
    assert headers["ce_id"] == envelope["id"]  # original headers kept


async def test_kafka_headers_carry_type_id_and_correlation():
    envelope = new_envelope(
        InvoiceVoided(customer_id="c", invoice_id="i"),
        source="billing",
        subject="c",
        tenant_id="t1",
        sequence=3,
        correlation_id="corr-1",
    )
    headers = kafka_headers(envelope)
    assert headers["ce_type"] == "billing.invoice-voided.v1"
    assert headers["ce_id"] == str(envelope.id)
    assert headers["correlation_id"] == "corr-1"
