"""How a poll's events are cut must not change what billing does with them.

These tests drive billing's batch handler exactly as the kit's consumer does (one database
transaction per poll, real PostgreSQL), so each test decides which events share a poll: the same
events as one poll, as separate polls, and one at a time in partition order (the kit's slow path).
The broker-level test at the end checks the same rule through Kafka.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from billing_service.store.recompute import differences
from platform_events import Envelope
from platform_events.contracts import billing as ev
from platform_events.contracts.customer import CustomerInactivated, CustomerReactivated
from platform_kit.kafka import decode_headers
from tests.billing.conftest import BillingUnderTest
from tests.billing.support import (
    customer_created,
    envelope,
    inbound,
    invoice,
    new_tenant,
    payment,
    publish,
    run_poll,
    snapshot,
    wait_for,
)
from tests.support.kafka_io import read_all

pytestmark = pytest.mark.integration

TX, CUSTOMERS, CONSUMER = "billing.transactions", "customer.events", "billing"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def on_topic(e: Envelope) -> str:
    return CUSTOMERS if e.type.startswith("customer.") else TX


async def polls(pool: asyncpg.Pool, *batches: list[Envelope]) -> list[str]:
    """Run each batch as one poll; returns the natural keys of the facts dead-lettered."""
    failed: list[str] = []
    for batch in batches:
        events = [inbound(e, on_topic(e), offset=i) for i, e in enumerate(batch)]
        for f in await run_poll(pool, CONSUMER, events):
            failed.append(str(f.error))
    return failed


async def balance(pool: asyncpg.Pool, tenant: str, customer: str = "c1") -> int | None:
    return await pool.fetchval(
        "SELECT current_balance_minor FROM balances WHERE tenant_id = $1 AND customer_id = $2",
        tenant,
        customer,
    )


async def test_conflicting_voids_in_one_poll_apply_one_and_park_the_other(
    db: asyncpg.Pool,
) -> None:
    tenant = new_tenant()
    await polls(
        db,
        [envelope(customer_created("c1"), tenant), envelope(invoice("c1", "i1", 900), tenant)],
    )
    first = envelope(ev.InvoiceVoided(customer_id="c1", invoice_id="i1", reason="typo"), tenant)
    other = envelope(ev.InvoiceVoided(customer_id="c1", invoice_id="i1", reason="dup"), tenant)
    # And a pair whose invoice arrives in the very same poll (after the voids, even).
    pair = [
        envelope(ev.InvoiceVoided(customer_id="c1", invoice_id="i2", reason="a"), tenant),
        envelope(ev.InvoiceVoided(customer_id="c1", invoice_id="i2", reason="b"), tenant),
        envelope(invoice("c1", "i2", 300), tenant),
    ]
    assert await polls(db, [first, other, *pair]) == []

    assert await balance(db, tenant) == 0
    parked = await db.fetch(
        "SELECT event_id, idempotency_key FROM conflicts WHERE tenant_id = $1 ORDER BY 2",
        tenant,
    )
    assert [(r["event_id"], r["idempotency_key"]) for r in parked] == [
        (other.id, "invoice_void:i1"),
        (pair[1].id, "invoice_void:i2"),
    ]
    voids = await db.fetch(
        "SELECT source_event_id FROM ledger_entries WHERE tenant_id = $1 AND entry_type = $2",
        tenant,
        "invoice_void",
    )
    assert {r["source_event_id"] for r in voids} == {first.id, pair[0].id}
    assert await differences(db) == []


async def test_transactions_ahead_of_their_customer_wait_and_apply_when_it_arrives(
    db: asyncpg.Pool,
) -> None:
    """The kit's slow path applies one event at a time in partition order: the customer comes
    last. Nothing may be retried into the DLQ; everything applies once the customer is known."""
    tenant = new_tenant()
    early = [
        envelope(invoice("c1", "i1", 5_000, order_id="o1"), tenant),
        envelope(ev.InvoiceVoided(customer_id="c1", invoice_id="i9"), tenant),  # before i9
        envelope(payment("c1", "p1", 1_000), tenant),
        envelope(invoice("c1", "i9", 700), tenant),
        envelope(invoice("c1", "i1", 5_000, order_id="o1"), tenant),  # re-sent, new id
    ]
    created = envelope(customer_created("c1"), tenant)
    assert await polls(db, *([e] for e in early)) == []
    assert await balance(db, tenant) is None
    assert await db.fetchval("SELECT count(*) FROM pending_transactions") == 5

    assert await polls(db, [created]) == []
    assert await balance(db, tenant) == 5_000 - 1_000
    assert await db.fetchval("SELECT count(*) FROM pending_transactions") == 0
    assert await db.fetchval("SELECT count(*) FROM ledger_entries") == 4  # i1, p1, i9, void i9
    # A redelivery of a parked event after it applied is a duplicate, nothing more.
    assert await polls(db, early[:2]) == []
    assert await balance(db, tenant) == 4_000
    assert await differences(db) == []


async def test_a_correction_waits_for_the_entry_it_corrects(db: asyncpg.Pool) -> None:
    tenant = new_tenant()
    await polls(db, [envelope(customer_created("c1"), tenant)])
    reversal = envelope(ev.PaymentReversed(customer_id="c1", payment_id="p1"), tenant)
    assert await polls(db, [reversal]) == []
    assert await db.fetchval("SELECT waits_for FROM pending_transactions") == "payment:p1"
    assert await polls(db, [envelope(payment("c1", "p1", 2_500), tenant)]) == []
    assert await balance(db, tenant) == 0
    row = await db.fetchrow(
        "SELECT total_paid_minor, entry_count FROM balances WHERE tenant_id = $1", tenant
    )
    assert tuple(row) == (0, 2)


async def test_a_waiting_correction_keeps_its_place_ahead_of_a_later_resend(
    db: asyncpg.Pool,
) -> None:
    """First content wins: a void parked for its invoice beats a changed re-send of it that
    arrives in the same poll as the invoice."""
    tenant = new_tenant()
    await polls(db, [envelope(customer_created("c1"), tenant)])
    first = envelope(ev.InvoiceVoided(customer_id="c1", invoice_id="i1", reason="a"), tenant)
    assert await polls(db, [first]) == []
    changed = envelope(ev.InvoiceVoided(customer_id="c1", invoice_id="i1", reason="b"), tenant)
    assert await polls(db, [envelope(invoice("c1", "i1", 600), tenant), changed]) == []
    applied = await db.fetchval(
        "SELECT source_event_id FROM ledger_entries WHERE entry_type = 'invoice_void'"
    )
    assert applied == first.id
    assert await db.fetchval("SELECT event_id FROM conflicts") == changed.id


async def test_a_parked_fact_refused_when_drained_is_dead_lettered_with_its_own_bytes(
    db: asyncpg.Pool,
) -> None:
    tenant = new_tenant()
    euros = envelope(invoice("c1", "i-eur", 1_000, currency="EUR"), tenant)
    assert await polls(db, [euros]) == []
    assert await polls(db, [envelope(customer_created("c1", currency="USD"), tenant)]) == []

    assert await balance(db, tenant) is None
    letters = await db.fetch("SELECT * FROM outbox WHERE topic = $1", f"{TX}.dlq")
    assert len(letters) == 1  # committed with the drain: no Kafka redelivery would bring it back
    headers = json.loads(letters[0]["headers"])
    assert headers["ce_id"] == str(euros.id) and headers["dlq-source-topic"] == TX
    assert "currency EUR does not match" in headers["dlq-reason"]
    assert json.loads(bytes(letters[0]["payload"]))["id"] == str(euros.id)
    rejected = await db.fetch("SELECT headers FROM outbox WHERE topic = 'billing.balances'")
    assert [json.loads(r["headers"])["ce_type"] for r in rejected] == [
        ev.BillingTransactionRejected.event_type
    ]


def inactivation(tenant: str, when: datetime) -> Envelope:
    data = CustomerInactivated(customer=snapshot("c1", active=False, version=2))
    return envelope(data, tenant, time=when)


def reactivation(tenant: str, when: datetime) -> Envelope:
    data = CustomerReactivated(customer=snapshot("c1", active=True, version=3))
    return envelope(data, tenant, time=when)


@pytest.mark.parametrize(
    ("scenario", "applies"),
    [
        ("invoice issued, then the customer inactivated", True),
        ("customer inactivated, then an invoice issued", False),
        ("invoice issued while inactive, delivered after the reactivation", False),
    ],
)
async def test_poll_boundaries_do_not_change_the_outcome(
    db: asyncpg.Pool, scenario: str, applies: bool
) -> None:
    outcomes = []
    for split in ("one poll", "one event per poll", "customer facts first, invoice later"):
        tenant = new_tenant()
        await polls(db, [envelope(customer_created("c1"), tenant, time=at(0))])
        bill = envelope(invoice("c1", "i1", 4_000), tenant, time=at(10 if applies else 20))
        if scenario.startswith("invoice issued, then"):
            stream = [bill, inactivation(tenant, at(15))]
        elif scenario.startswith("customer inactivated"):
            stream = [inactivation(tenant, at(15)), bill]
        else:
            stream = [inactivation(tenant, at(15)), reactivation(tenant, at(30)), bill]
        if split == "one poll":
            failed = await polls(db, stream)
        elif split == "one event per poll":
            failed = await polls(db, *([e] for e in stream))
        else:
            customer_facts = [e for e in stream if e is not bill]
            failed = await polls(db, customer_facts, [bill])
        outcomes.append((split, await balance(db, tenant), failed))

    expected = (
        (4_000, []) if applies else (None, ["customer is inactive: new invoices are refused"])
    )
    assert [(split, *expected) for split, _, _ in outcomes] == outcomes


async def test_an_event_time_without_an_offset_is_read_as_utc_like_the_ledger_stores_it(
    db: asyncpg.Pool,
) -> None:
    """An envelope time without a UTC offset was stored as UTC while the customer had one
    version, but once it had two the rules crashed comparing it (TypeError, dead-lettered with
    no reason a person can act on, and every replay failing the same way). It is judged as UTC,
    as it is stored: before the inactivation it applies, after it it is refused with the reason."""
    tenant = new_tenant()
    await polls(db, [envelope(customer_created("c1"), tenant, time=at(0))])
    assert await polls(db, [inactivation(tenant, at(15))]) == []
    before = envelope(invoice("c1", "i1", 4_000), tenant, time=at(10).replace(tzinfo=None))
    after = envelope(invoice("c1", "i2", 2_000), tenant, time=at(20).replace(tzinfo=None))
    assert await polls(db, [before], [after]) == ["customer is inactive: new invoices are refused"]
    assert await balance(db, tenant) == 4_000
    stored = await db.fetchval(
        "SELECT effective_at FROM ledger_entries WHERE tenant_id = $1", tenant
    )
    assert stored == at(10)
    assert await differences(db) == []


async def test_an_event_that_fails_unexpectedly_fails_alone(db: asyncpg.Pool) -> None:
    """Fault injection: the database refuses one entry. Its poll still applies the rest, with
    the customer fact first, and only that event is handed back for the DLQ."""
    await db.execute(
        """CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               IF NEW.reference_id = 'poison' THEN RAISE EXCEPTION 'injected fault'; END IF;
               RETURN NEW;
           END $$;
           CREATE TRIGGER poison BEFORE INSERT ON ledger_entries
               FOR EACH ROW EXECUTE FUNCTION poison();"""
    )
    tenant = new_tenant()
    batch = [
        envelope(invoice("c1", "i1", 800), tenant),
        envelope(payment("c1", "poison", 100), tenant),
        envelope(payment("c1", "p2", 300), tenant),
        envelope(customer_created("c1"), tenant),
    ]
    events = [inbound(e, on_topic(e), offset=i) for i, e in enumerate(batch)]
    failures = await run_poll(db, CONSUMER, events)
    assert [(f.event.envelope.id, "injected fault" in str(f.error)) for f in failures] == [
        (batch[1].id, True)
    ]
    assert await balance(db, tenant) == 500


async def test_through_kafka_a_transaction_ahead_of_its_customer_is_not_dead_lettered(
    billing: BillingUnderTest,
) -> None:
    tenant = new_tenant()
    early = [
        envelope(invoice("late", "i1", 6_000), tenant),
        envelope(payment("late", "p1", 2_000), tenant),
    ]
    await publish(billing.bootstrap, billing.tx_topic, early)
    headers = await billing.token(tenant, "read")

    async def listed_pending() -> list[str]:
        page = (await billing.client.get("/v1/pending", headers=headers)).json()["items"]
        return [i["event_id"] for i in page] if len(page) == 2 else []

    assert await wait_for(listed_pending) == [str(e.id) for e in early]
    await publish(
        billing.bootstrap, billing.customer_topic, [envelope(customer_created("late"), tenant)]
    )
    assert await wait_for(lambda: balance(billing.pool, tenant, "late")) == 4_000
    assert (await billing.client.get("/v1/pending", headers=headers)).json()["items"] == []
    dead = await read_all(billing.bootstrap, f"{billing.tx_topic}.dlq", 1, timeout=1)
    assert not [r for r in dead if decode_headers(r.headers).get("tenant_id") == tenant]
