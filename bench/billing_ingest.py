"""Billing ingest: the set-based consumer beside the simplest correct one, in the same run.

    uv run python bench/billing_ingest.py [--events 100000] [--customers 1000] [--simple-events 5000]

Needs the stack (reads .state/stack.env or KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL). Each phase
gets its own schema, topics and consumer group, so nothing else on the stack is touched.

1. Set-based: `python -m billing_service` runs as its own process (consumer + outbox relay, one
   transaction per poll). The bench streams N transaction events over K customers as fast as its
   producer can (2% re-sent with the same id, 1% under a new id with the same content) and times
   first send -> last ledger commit. Lag = ledger commit - event time, per event.
2. Simple: one transaction and one offset commit per event (getone -> inbox -> same ledger code
   -> commit), on a pre-published backlog of M events.
Both end by checking exactly-once effect: every balance equals the totals computed here from the
source events, and a recompute from the ledger finds no difference.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from billing_service.domain.entries import SIGN, EntryType, Totals
from billing_service.domain.facts import fact_from_event
from billing_service.store.ledger import write_facts
from billing_service.store.recompute import differences
from platform_events import Envelope, EventData, new_envelope, parse_event
from platform_events.contracts import billing as ev
from platform_events.contracts.customer import CustomerCreated, CustomerSnapshot
from platform_kit.db import apply_migrations, create_pool, service_migrations
from platform_kit.kafka import encode_headers
from platform_kit.outbox import kafka_headers

ROOT = Path(__file__).resolve().parents[1]


def load_env() -> tuple[str, str]:
    env_file = ROOT / ".state" / "stack.env"
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            os.environ.setdefault(key, value)
    return os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["DATABASE_URL"]


# --- workload ----------------------------------------------------------------------------------


@dataclass
class Workload:
    """A random stream of billing transactions and the totals it must produce, per customer."""

    tenant: str
    customers: list[str]
    items: list[tuple[EventData, str]] = field(default_factory=list)  # (data, resend kind)
    expected: dict[str, Totals] = field(default_factory=lambda: defaultdict(Totals))

    @property
    def unique(self) -> int:
        return sum(t.entries for t in self.expected.values())


def build_workload(
    n: int, customers: int, seed: int = 7, tenant: str | None = None, resend_rate: float = 0.03
) -> Workload:
    rnd = random.Random(seed)
    w = Workload(tenant or f"bench-{uuid.uuid4().hex[:8]}", [f"c{i}" for i in range(customers)])
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
        same_id = resend < resend_rate * 2 / 3
        w.items.append((data, "same-id" if same_id else "new-id" if resend < resend_rate else ""))
    return w


def customer_envelopes(w: Workload) -> list[Envelope]:
    return [
        new_envelope(
            CustomerCreated(
                customer=CustomerSnapshot(
                    customer_id=c, company_name=c, tracking_number=c, currency="USD", version=1
                )
            ),
            source="bench",
            subject=c,
            tenant_id=w.tenant,
            sequence=1,
        )
        for c in w.customers
    ]


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


async def stream(
    bootstrap: str, topic: str, w: Workload, chunk: int = 1000, on_sent: Any = None
) -> float:
    """Send the workload (envelopes minted just before sending, so their time is the send time),
    with its re-sends; returns the time the first event was sent."""
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
        for start in range(0, len(w.items), chunk):
            batch: list[Envelope] = []
            for data, resend in w.items[start : start + chunk]:
                e = new_envelope(
                    data, source="bench", subject=data.customer_id, tenant_id=w.tenant, sequence=1
                )  # type: ignore[attr-defined]
                batch.append(e)
                if resend == "same-id":
                    batch.append(e)
                elif resend == "new-id":
                    batch.append(
                        new_envelope(
                            data, source="bench", subject=e.subject, tenant_id=w.tenant, sequence=1
                        )
                    )
            await send(producer, topic, batch)
            if on_sent:
                await on_sent(start + chunk)
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


# --- plumbing ----------------------------------------------------------------------------------


@dataclass
class Sandbox:
    schema: str
    tx_topic: str
    customer_topic: str
    consumer: str

    @classmethod
    def new(cls, label: str) -> Sandbox:
        tag = uuid.uuid4().hex[:8]
        return cls(
            f"bench_{label}_{tag}",
            f"bench.tx.{tag}",
            f"bench.customers.{tag}",
            f"bench-{label}-{tag}",
        )

    def env(self, bootstrap: str, dsn: str, port: int) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATABASE_URL": dsn,
            "BILLING_SCHEMA": self.schema,
            "TRANSACTIONS_TOPIC": self.tx_topic,
            "CUSTOMER_TOPIC": self.customer_topic,
            "CONSUMER_NAME": self.consumer,
            "HTTP_PORT": str(port),
            "LOG_LEVEL": "WARNING",
        }

    async def create_topics(self, bootstrap: str, partitions: int = 6) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            names = [self.tx_topic, self.customer_topic]
            await admin.create_topics(
                [NewTopic(n, partitions, 1) for n in names + [f"{n}.dlq" for n in names]]
            )
        finally:
            await admin.close()

    async def pool(self, dsn: str) -> asyncpg.Pool:
        pool = await create_pool(dsn, self.schema, min_size=1, max_size=4)
        await apply_migrations(pool, self.schema, service_migrations("billing_service.migrations"))
        return pool

    async def drop(self, pool: asyncpg.Pool) -> None:
        await pool.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        await pool.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "billing_service"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def applied(pool: asyncpg.Pool, tenant: str) -> int:
    return int(
        await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE tenant_id = $1", tenant)
    )


async def wait_applied(
    pool: asyncpg.Pool, tenant: str, expected: int, timeout: float = 600
) -> None:
    deadline = time.monotonic() + timeout
    while await applied(pool, tenant) < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {await applied(pool, tenant)} of {expected} applied")
        await asyncio.sleep(0.05)


# --- the two consumers -------------------------------------------------------------------------


async def set_based(bootstrap: str, dsn: str, n: int, customers: int) -> dict[str, Any]:
    box = Sandbox.new("batch")
    await box.create_topics(bootstrap)
    pool = await box.pool(dsn)
    w = build_workload(n, customers)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    await send(producer, box.customer_topic, customer_envelopes(w))
    await producer.stop()
    proc = start_service(box.env(bootstrap, dsn, free_port()))
    try:
        while await pool.fetchval("SELECT count(*) FROM customers") < customers:
            await asyncio.sleep(0.1)
        first = await stream(bootstrap, box.tx_topic, w)
        sent_done = time.perf_counter()
        await wait_applied(pool, w.tenant, w.unique)
        elapsed = time.perf_counter() - first
        lag = await pool.fetchrow(
            """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM recorded_at - effective_at)) AS p50,
                      percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM recorded_at - effective_at)) AS p99
               FROM ledger_entries WHERE tenant_id = $1""",
            w.tenant,
        )
        problems = await check_exactly_once(pool, w)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    await box.drop(pool)
    return {
        "events_sent": n + sum(1 for _, r in w.items if r),
        "unique_facts": w.unique,
        "events_per_s": n / elapsed,
        "producer_s": sent_done - first,
        "lag_p50_ms": lag["p50"] * 1000,
        "lag_p99_ms": lag["p99"] * 1000,
        "problems": problems,
    }


async def simple(bootstrap: str, dsn: str, n: int, customers: int) -> dict[str, Any]:
    """The simplest correct consumer: one database transaction and one offset commit per event."""
    box = Sandbox.new("simple")
    await box.create_topics(bootstrap)
    pool = await box.pool(dsn)
    w = build_workload(n, customers, seed=11)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    await send(producer, box.customer_topic, customer_envelopes(w))
    await producer.stop()
    # Customers straight into the table: this phase times transactions only.
    await pool.executemany(
        "INSERT INTO customers (tenant_id, customer_id, currency, active, version) VALUES ($1, $2, 'USD', true, 1)",
        [(w.tenant, c) for c in w.customers],
    )
    await stream(bootstrap, box.tx_topic, w)
    total = n + sum(1 for _, r in w.items if r)
    consumer = AIOKafkaConsumer(
        box.tx_topic,
        bootstrap_servers=bootstrap,
        group_id=box.consumer,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    started = time.perf_counter()
    seen = 0
    try:
        while seen < total:
            record = await consumer.getone()
            envelope, data = parse_event(record.value)
            async with pool.acquire() as conn, conn.transaction():
                new = await conn.fetchval(
                    "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
                    box.consumer + "-ids",
                    envelope.id,
                )
                if new:
                    fact = fact_from_event(
                        data,
                        event_id=envelope.id,
                        tenant_id=envelope.tenant_id,
                        occurred_at=envelope.time,
                    )
                    await write_facts(conn, box.consumer, [fact], today=datetime.now(UTC).date())
            await consumer.commit()
            seen += 1
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
    problems = await check_exactly_once(pool, w)
    await box.drop(pool)
    return {"events": total, "events_per_s": total / elapsed, "problems": problems}


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--simple-events", type=int, default=5000)
    args = parser.parse_args()
    bootstrap, dsn = load_env()

    batch = await set_based(bootstrap, dsn, args.events, args.customers)
    print(
        f"set-based consumer: {batch['events_per_s']:,.0f} events/s over {args.events:,} events "
        f"({batch['events_sent']:,} sent with re-sends, {batch['unique_facts']:,} facts applied), "
        f"lag p50 {batch['lag_p50_ms']:.0f} ms, p99 {batch['lag_p99_ms']:.0f} ms; "
        f"producer finished after {batch['producer_s']:.1f}s"
    )
    print(f"  exactly-once check: {'ok' if not batch['problems'] else batch['problems'][:5]}")
    one = await simple(bootstrap, dsn, args.simple_events, args.customers)
    print(
        f"simple consumer (1 transaction + 1 commit per event): {one['events_per_s']:,.0f} events/s over {one['events']:,} events"
    )
    print(f"  exactly-once check: {'ok' if not one['problems'] else one['problems'][:5]}")
    print(f"ratio: {batch['events_per_s'] / one['events_per_s']:.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
