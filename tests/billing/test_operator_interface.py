"""What operators and outside producers see: keys checked, parked messages bounded and visible,
every dead letter counted, outcomes counted apart, causes named."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest
from prometheus_client import REGISTRY

from billing_service.handlers.expire_parked import expire_parked_once
from platform_events.contracts.customer import CustomerUpdated
from platform_kit.kafka import decode_headers
from tests.billing.conftest import BillingUnderTest
from tests.billing.support import (
    TopicTail,
    customer_created,
    envelope,
    invoice,
    new_tenant,
    payment,
    publish,
    snapshot,
    wait_for,
)
from tests.support.kafka_io import publish_raw, read_all

pytestmark = pytest.mark.integration


def consumed(b: BillingUnderTest, event_type: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "platform_events_consumed_total",
        {"consumer": b.settings.consumer_name, "type": event_type, "outcome": outcome},
    )
    return value or 0.0


def dead_letters(b: BillingUnderTest) -> float:
    value = REGISTRY.get_sample_value(
        "platform_dead_letters_total",
        {"consumer": b.settings.consumer_name, "topic": b.tx_topic},
    )
    return value or 0.0


async def letters_for(b: BillingUnderTest, event_id: str, timeout: float = 30) -> list[dict]:
    async def found() -> list[dict]:
        records = await read_all(b.bootstrap, f"{b.tx_topic}.dlq", 1, timeout=2)
        return [
            h for h in (decode_headers(r.headers) for r in records) if h.get("ce_id") == event_id
        ]

    return await wait_for(found, timeout=timeout)


async def test_a_payment_keyed_by_another_customer_is_dead_lettered_not_applied(
    billing: BillingUnderTest,
) -> None:
    tenant = new_tenant()
    await publish(
        billing.bootstrap,
        billing.customer_topic,
        [envelope(customer_created("k-1"), tenant), envelope(customer_created("k-2"), tenant)],
    )
    # Keyed (and subject) "k-2", but the payment is k-1's: it would be ordered with k-2's events.
    stray = envelope(payment("k-1", "pay-stray", 500), tenant, subject="k-2")
    await publish(billing.bootstrap, billing.tx_topic, [stray])
    [letter] = await letters_for(billing, str(stray.id))
    assert letter["dlq-reason"] == "key 'k-2' is not the event's customer_id 'k-1'"
    assert letter["dlq-error-type"] == "UndecodableMessage"
    assert not await billing.pool.fetchval(
        "SELECT count(*) FROM ledger_entries WHERE tenant_id = $1", tenant
    )


async def test_a_parked_payment_is_visible_to_operators_and_dead_lettered_after_the_bound(
    billing: BillingUnderTest,
) -> None:
    tenant = new_tenant()
    parked_before = consumed(billing, "billing.payment-received.v1", "parked")
    letters_before = dead_letters(billing)
    orphan = envelope(payment("nobody", "pay-orphan", 700), tenant)
    await publish(billing.bootstrap, billing.tx_topic, [orphan])

    async def parked() -> bool:
        return bool(
            await billing.pool.fetchval(
                "SELECT true FROM pending_transactions WHERE event_id = $1", orphan.id
            )
        )

    await wait_for(parked)
    assert consumed(billing, "billing.payment-received.v1", "parked") == parked_before + 1

    # The operator's view, across tenants (the tenant may not exist, so no API caller can ask).
    env = {
        **os.environ,
        "DATABASE_URL": billing.settings.database_url,
        "BILLING_SCHEMA": billing.settings.billing_schema,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "billing_service.parked", env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    rows = [json.loads(line) for line in out.decode().splitlines()]
    [row] = [r for r in rows if r["event_id"] == str(orphan.id)]
    assert (row["tenant_id"], row["customer_id"], row["waits_for"]) == (
        tenant,
        "nobody",
        "customer",
    )
    assert row["event_type"] == "billing.payment-received.v1" and row["dead_letter_at"]

    # Not yet due: nothing happens. Past the bound: dead-lettered through the outbox, counted.
    assert await expire_parked_once(billing.pool, billing.settings.consumer_name, 3600) == 0
    assert await expire_parked_once(billing.pool, billing.settings.consumer_name, 0) >= 1
    [letter] = await letters_for(billing, str(orphan.id))
    assert letter["dlq-reason"].startswith("parked ")
    assert f"waiting for customer 'nobody' of tenant '{tenant}'" in letter["dlq-reason"]
    assert "\n" not in letter["dlq-reason"] and letter["dlq-source-topic"] == billing.tx_topic
    assert not await parked()
    await wait_for(lambda: _async(dead_letters(billing) >= letters_before + 1))


async def _async(value: bool) -> bool:
    return value


async def test_duplicates_are_counted_apart_and_a_balance_change_names_its_cause(
    billing: BillingUnderTest,
) -> None:
    tenant = new_tenant()
    await publish(
        billing.bootstrap, billing.customer_topic, [envelope(customer_created("c"), tenant)]
    )
    pay = envelope(payment("c", "pay-1", 300), tenant)
    duplicates_before = consumed(billing, "billing.payment-received.v1", "duplicate")
    tail = TopicTail(billing.bootstrap, "billing.balances")
    await tail.start()
    try:
        await publish(billing.bootstrap, billing.tx_topic, [pay])

        def changed(r) -> bool:  # type: ignore[no-untyped-def]
            h = decode_headers(r.headers)
            return h.get("tenant_id") == tenant and h.get("ce_type") == "billing.balance-changed.v1"

        [balance] = await tail.collect(changed, 1)
    finally:
        await tail.stop()
    assert json.loads(balance.value)["causation_id"] == str(pay.id)
    await publish(billing.bootstrap, billing.tx_topic, [pay])
    await wait_for(
        lambda: _async(
            consumed(billing, "billing.payment-received.v1", "duplicate") == duplicates_before + 1
        )
    )


async def test_a_dead_letter_gives_its_reason_on_one_line_and_the_details_apart(
    billing: BillingUnderTest,
) -> None:
    tenant = new_tenant()
    bad = envelope(payment("c-bad", "pay-bad", 100), tenant)
    body = json.loads(bad.model_dump_json())
    body["data"]["amount"]["amount_minor"] = 100.5
    body["sequence"] = "first"
    producer_headers = [("ce_id", str(bad.id).encode()), ("ce_type", bad.type.encode())]
    await publish_raw(
        billing.bootstrap,
        billing.tx_topic,
        [json.dumps(body).encode()],
        key=b"c-bad",
        headers=producer_headers,
    )
    [letter] = await letters_for(billing, str(bad.id))
    assert letter["dlq-reason"] == (
        "schema violation: sequence: Input should be a valid integer, "
        "unable to parse string as an integer"
    )
    assert "\n" in letter["dlq-detail"] and "validation error" in letter["dlq-detail"]


async def test_every_event_of_a_customer_on_billing_balances_has_a_higher_sequence(
    billing: BillingUnderTest,
) -> None:
    """Balance changes, flags and rejections share the key, so "drop what is older than the last
    seen" must work across them: a rejection used to carry sequence 0."""
    tenant = new_tenant()
    await publish(
        billing.bootstrap, billing.customer_topic, [envelope(customer_created("s-1"), tenant)]
    )
    tail = TopicTail(billing.bootstrap, "billing.balances")
    await tail.start()
    try:
        sent = [
            envelope(payment("s-1", "pay-1", 300), tenant),
            envelope(payment("s-1", "pay-eur", 300, currency="EUR"), tenant),  # refused
            envelope(payment("s-1", "pay-2", 200), tenant),
        ]

        def ours(r) -> bool:  # type: ignore[no-untyped-def]
            return decode_headers(r.headers).get("tenant_id") == tenant

        found = []
        for one in sent:  # each answered before the next is sent
            await publish(billing.bootstrap, billing.tx_topic, [one])
            found += await tail.collect(ours, 1)
    finally:
        await tail.stop()
    events = [json.loads(r.value) for r in found]
    assert sorted(e["type"] for e in events) == [
        "billing.balance-changed.v1",
        "billing.balance-changed.v1",
        "billing.transaction-rejected.v1",
    ]
    sequences = [e["sequence"] for e in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == 3, events


async def test_a_credit_limit_flag_names_the_event_that_flipped_it(
    billing: BillingUnderTest,
) -> None:
    tenant = new_tenant()
    created = envelope(customer_created("c", credit_limit_minor=100), tenant)
    over = envelope(invoice("c", "inv-1", 500), tenant)
    raised = envelope(
        CustomerUpdated(
            changed_fields=["credit_limit_minor"],
            customer=snapshot("c", credit_limit_minor=1_000, version=2),
        ),
        tenant,
    )

    def credit_flag(r) -> bool:  # type: ignore[no-untyped-def]
        h = decode_headers(r.headers)
        return (
            h.get("tenant_id") == tenant and h.get("ce_type") == "billing.credit-limit-exceeded.v1"
        )

    tail = TopicTail(billing.bootstrap, "billing.balances")
    await tail.start()
    try:
        await publish(billing.bootstrap, billing.customer_topic, [created])
        await publish(billing.bootstrap, billing.tx_topic, [over])
        [exceeded] = await tail.collect(credit_flag, 1)
        await publish(billing.bootstrap, billing.customer_topic, [raised])
        [cleared] = await tail.collect(credit_flag, 1)
    finally:
        await tail.stop()
    assert json.loads(exceeded.value)["data"]["exceeded"] is True
    assert json.loads(exceeded.value)["causation_id"] == str(over.id)
    assert json.loads(cleared.value)["data"]["exceeded"] is False
    assert json.loads(cleared.value)["causation_id"] == str(raised.id)
