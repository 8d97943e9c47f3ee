"""The billing benchmark's workload: a random stream of billing transactions, the totals it must
produce, and a producer that sends it while taking as little CPU as it can from the consumer it
measures. Used by bench/billing_ingest.py and the billing fault test."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from billing_service.domain.entries import SIGN, EntryType, Totals
from billing_service.store.recompute import differences
from platform_events import Envelope, EventData, new_envelope, parse_event
from platform_events.contracts import billing as ev
from platform_events.contracts.customer import CustomerCreated, CustomerSnapshot, CustomerUpdated
from platform_kit.kafka import encode_headers
from platform_kit.outbox import kafka_headers


@dataclass
class Workload:
    """A random stream of billing transactions and the totals it must produce, per customer.

    Each item has a re-send kind: "" (sent once), "same-id" (sent twice), "new-id" (again under a
    new event id, same content: a duplicate by natural key) or "conflict" (again under a new id
    with other content: parked, never applied). `late` customers are created only when the
    caller sends `late_customer_envelopes`, so their first transactions wait for them.
    """

    tenant: str
    customers: list[str]
    late: list[str] = field(default_factory=list)
    items: list[tuple[EventData, str]] = field(default_factory=list)  # (data, resend kind)
    expected: dict[str, Totals] = field(default_factory=lambda: defaultdict(Totals))

    @property
    def unique(self) -> int:
        return sum(t.entries for t in self.expected.values())

    @property
    def sent(self) -> int:
        """Messages the stream puts on the topic: every item, plus one per re-send."""
        return len(self.items) + sum(1 for _, kind in self.items if kind)

    @property
    def conflicts(self) -> int:
        return sum(1 for _, kind in self.items if kind == "conflict")


def build_workload(
    n: int,
    customers: int,
    seed: int = 7,
    tenant: str | None = None,
    resend_rate: float = 0.03,
    conflict_rate: float = 0.0,
    late_customers: int = 0,
) -> Workload:
    rnd = random.Random(seed)
    names = [f"c{i}" for i in range(customers)]
    w = Workload(tenant or f"bench-{uuid.uuid4().hex[:8]}", names, late=names[:late_customers])
    invoices: dict[str, list[tuple[str, int]]] = defaultdict(list)
    payments: dict[str, list[tuple[str, int]]] = defaultdict(list)
    while len(w.items) < n:
        i = len(w.items)
        cust = rnd.choice(w.customers)
        amount = rnd.randint(100, 100_000)
        roll = rnd.random()
        data: EventData
        if roll < 0.35:
            data = ev.InvoiceIssued(
                customer_id=cust,
                invoice_id=f"inv-{i}",
                order_id=f"o-{i}",
                amount=ev.Money(amount_minor=amount, currency="USD"),
            )
            invoices[cust].append((f"inv-{i}", amount))
            w.expected[cust] = w.expected[cust].add(EntryType.INVOICE, amount)
        elif roll < 0.70:
            data = ev.PaymentReceived(
                customer_id=cust,
                payment_id=f"pay-{i}",
                amount=ev.Money(amount_minor=amount, currency="USD"),
            )
            payments[cust].append((f"pay-{i}", amount))
            w.expected[cust] = w.expected[cust].add(EntryType.PAYMENT, -amount)
        elif roll < 0.76 and invoices[cust]:
            invoice_id, inv_amount = invoices[cust].pop(rnd.randrange(len(invoices[cust])))
            data = ev.InvoiceVoided(customer_id=cust, invoice_id=invoice_id)
            w.expected[cust] = w.expected[cust].add(EntryType.INVOICE_VOID, -inv_amount)
        elif roll < 0.82 and payments[cust]:
            payment_id, pay_amount = payments[cust].pop(rnd.randrange(len(payments[cust])))
            data = ev.PaymentReversed(customer_id=cust, payment_id=payment_id)
            w.expected[cust] = w.expected[cust].add(EntryType.PAYMENT_REVERSAL, pay_amount)
        elif roll < 0.88:
            data = ev.RefundIssued(
                customer_id=cust,
                refund_id=f"r-{i}",
                amount=ev.Money(amount_minor=amount, currency="USD"),
            )
            w.expected[cust] = w.expected[cust].add(EntryType.REFUND, amount)
        elif roll < 0.94:
            data = ev.CreditApplied(
                customer_id=cust,
                credit_id=f"cr-{i}",
                amount=ev.Money(amount_minor=amount, currency="USD"),
            )
            w.expected[cust] = w.expected[cust].add(EntryType.CREDIT, -amount)
        else:
            signed = amount * rnd.choice((1, -1))
            data = ev.AdjustmentPosted(
                customer_id=cust,
                adjustment_id=f"a-{i}",
                amount=ev.Money(amount_minor=signed, currency="USD"),
                reason="bench",
            )
            w.expected[cust] = w.expected[cust].add(
                EntryType.ADJUSTMENT, SIGN[EntryType.ADJUSTMENT] * signed
            )
        resend = rnd.random()
        kind = (
            "same-id"
            if resend < resend_rate * 2 / 3
            else "new-id"
            if resend < resend_rate
            else "conflict"
            if resend < resend_rate + conflict_rate
            else ""
        )
        w.items.append((data, kind))
    return w


def variant(data: EventData) -> EventData:
    """The same fact (natural key) with other content: a conflict, never applied."""
    if isinstance(data, ev.InvoiceIssued):
        return data.model_copy(update={"due_date": date(2000, 1, 1)})
    if isinstance(data, ev.PaymentReceived):
        return data.model_copy(update={"note": "sent again, changed"})
    return data.model_copy(update={"reason": "sent again, changed"})


def snapshot(customer: str, version: int = 1, **fields: Any) -> CustomerSnapshot:
    return CustomerSnapshot(
        customer_id=customer,
        company_name=customer,
        tracking_number=customer,
        currency="USD",
        version=version,
        **fields,
    )


def customer_envelopes(w: Workload, customers: list[str] | None = None) -> list[Envelope]:
    """CustomerCreated for the customers known from the start (all but the late ones)."""
    wanted = customers if customers is not None else [c for c in w.customers if c not in w.late]
    return [
        new_envelope(
            CustomerCreated(customer=snapshot(c)),
            source="bench",
            subject=c,
            tenant_id=w.tenant,
            sequence=1,
        )
        for c in wanted
    ]


def late_customer_envelopes(w: Workload) -> list[Envelope]:
    return customer_envelopes(w, w.late)


def credit_limit_envelope(w: Workload, customer: str, limit: int) -> Envelope:
    """A mid-stream customer change: billing re-evaluates the flag, totals stay as they are."""
    return new_envelope(
        CustomerUpdated(
            customer=snapshot(customer, version=2, credit_limit_minor=limit),
            changed_fields=["credit_limit_minor"],
        ),
        source="bench",
        subject=customer,
        tenant_id=w.tenant,
        sequence=2,
    )


async def send(producer: AIOKafkaProducer, topic: str, envelopes: list[Envelope]) -> None:
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


class Minter:
    """Builds an event's bytes at send time from what was encoded before the clock started.

    The load generator shares the 2 cores with the consumer it measures, so it does the least
    work it can: each item's data JSON is encoded beforehand, and minting at send time only fills
    in a fresh id and the send time (so lag is measured from the moment of sending). The result is
    exactly what new_envelope(...).model_dump_json() would give; `check` parses one to prove it.
    """

    def __init__(self, tenant: str) -> None:
        self.tenant = json.dumps(tenant)
        self.tenant_header = tenant.encode()

    def prepare(self, data: EventData) -> tuple[str, str, str]:
        return data.event_type, json.dumps(data.customer_id), data.model_dump_json()  # type: ignore[attr-defined]

    def mint(self, prepared: tuple[str, str, str]) -> tuple[bytes, list[tuple[str, bytes]]]:
        event_type, subject, data_json = prepared
        event_id = str(uuid.uuid4())
        body = (
            f'{{"specversion":"1.0","id":"{event_id}","type":"{event_type}","source":"bench",'
            f'"time":"{datetime.now(UTC).isoformat()}","subject":{subject},'
            f'"tenant_id":{self.tenant},"correlation_id":null,"causation_id":null,'
            f'"sequence":1,"data":{data_json}}}'
        ).encode()
        headers = [
            ("ce_type", event_type.encode()),
            ("ce_id", event_id.encode()),
            ("ce_source", b"bench"),
            ("tenant_id", self.tenant_header),
            ("content-type", b"application/json"),
        ]
        return body, headers

    def check(self, data: EventData) -> None:
        body, _ = self.mint(self.prepare(data))
        envelope, parsed = parse_event(body)
        assert parsed == data and envelope.tenant_id == json.loads(self.tenant), body


async def stream(
    bootstrap: str,
    topic: str,
    w: Workload,
    chunk: int = 1000,
    on_sent: Any = None,
    rate: float | None = None,
) -> float:
    """Send the workload (each event minted just before sending, so its time is the send time),
    with its re-sends, as fast as possible or at `rate` items/s (in chunks of 1/50 s); returns
    the time the first event was sent."""
    if rate:
        chunk = max(1, int(rate / 50))
    minter = Minter(w.tenant)
    items = [
        (
            minter.prepare(data),
            resend,
            minter.prepare(variant(data)) if resend == "conflict" else None,
        )
        for data, resend in w.items
    ]
    if w.items:
        minter.check(w.items[0][0])
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    first = time.perf_counter()
    try:
        for start in range(0, len(items), chunk):
            futures = []
            for prepared, resend, changed in items[start : start + chunk]:
                key = prepared[1][1:-1].encode()  # the subject, unquoted
                body, headers = minter.mint(prepared)
                sends = [(body, headers)]
                if resend == "same-id":
                    sends.append((body, headers))
                elif resend == "new-id":
                    sends.append(minter.mint(prepared))
                elif resend == "conflict":
                    assert changed is not None
                    sends.append(minter.mint(changed))
                for value, hdrs in sends:
                    futures.append(await producer.send(topic, value, key=key, headers=hdrs))
            await asyncio.gather(*futures)
            if on_sent:
                await on_sent(start + chunk)
            if rate:  # the next chunk's scheduled time, whether or not this one was late
                await asyncio.sleep(max(0.0, first + (start + chunk) / rate - time.perf_counter()))
    finally:
        await producer.stop()
    return first


async def check_exactly_once(pool: asyncpg.Pool, w: Workload) -> list[str]:
    problems = [f"ledger vs stored: {d}" for d in await differences(pool)]
    rows = await pool.fetch("SELECT * FROM balances WHERE tenant_id = $1", w.tenant)
    stored = {r["customer_id"]: r for r in rows}
    for cust, t in w.expected.items():
        r = stored.get(cust)
        got = (
            (
                r["current_balance_minor"],
                r["total_invoiced_minor"],
                r["total_paid_minor"],
                r["total_refunded_minor"],
                r["total_credits_minor"],
                r["total_adjustments_minor"],
            )
            if r
            else None
        )
        want = (t.current, t.invoiced, t.paid, t.refunded, t.credits, t.adjustments)
        if got != want:
            problems.append(f"{cust}: stored {got} != source {want}")
    return problems
