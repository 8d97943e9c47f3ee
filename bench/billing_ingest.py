"""Billing ingest: the set-based consumer beside the simplest correct one, in the same run.

    uv run python bench/billing_ingest.py [--events 100000] [--customers 1000] [--simple-events 5000]

Needs the stack (reads .state/stack.env or KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL). Each phase
gets its own schema, topics and consumer group, so nothing else on the stack is touched.

1. Set-based: `python -m billing_service` runs as its own process (consumer + outbox relay, one
   transaction per poll). The bench streams N transaction events over K customers as fast as its
   producer can (2% re-sent with the same id, 1% under a new id with the same content) and times
   first send -> last ledger entry committed. Lag = the entry's commit time - its event time, per
   entry (commit times from `track_commit_timestamp`, which the local stack turns on; elsewhere a
   20 ms poller notes when each entry becomes visible). The producer mints each event at send
   time from data encoded beforehand, so the load generator takes as little of the 2 cores as it
   can from the consumer it measures.
2. Simple: one transaction and one offset commit per event (getone -> billing's own handler on
   that one event -> commit), on a pre-published backlog of M events, timed after a warm-up.
Events/s counts every message consumed (re-sends included) in both phases.
Both end by checking exactly-once effect: every balance equals the totals computed here from the
source events, and a recompute from the ledger finds no difference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from billing_service.domain.entries import SIGN, EntryType, Totals
from billing_service.handlers.apply_billing_events import ApplyBillingEvents
from billing_service.settings import Settings as BillingSettings
from billing_service.store.customers import upsert_customers
from billing_service.store.recompute import differences
from platform_events import Envelope, EventData, new_envelope, parse_event
from platform_events.contracts import billing as ev
from platform_events.contracts.customer import CustomerCreated, CustomerSnapshot, CustomerUpdated
from platform_kit.db import apply_migrations, create_pool, service_migrations
from platform_kit.inbox import InboundEvent
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


class CommitWatcher:
    """Measures lag where a reader sees it: an entry counts once its transaction has committed.

    With `track_commit_timestamp` on (the local stack turns it on), each entry's commit time is
    read once at the end, so nothing watches the ledger while the consumer works: this counts
    the entries twice a second, to know when all have arrived. Otherwise it polls the ledger
    every `interval` seconds for entries past the last one seen and records, per entry, (time
    first visible) - (event time), at most `interval` late. The event time is minted by `stream`
    just before sending, on this machine's clock, so both ends use one clock. `recorded_at` is
    not used (it is the transaction's start, not its commit).
    """

    def __init__(self, pool: asyncpg.Pool, tenant: str, interval: float = 0.02) -> None:
        self.pool, self.tenant, self.interval = pool, tenant, interval
        self.lags: list[float] = []
        self.last_visible = 0.0  # time.time() of the last commit
        self.first_sent = 0.0  # time.time() of the first event's minting
        self.commit_times = False
        self._last_seq = 0

    async def start(self) -> None:
        self.commit_times = await self.pool.fetchval("SHOW track_commit_timestamp") == "on"

    async def wait_for(self, expected: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.commit_times:
                await self._note_visible()
            if await applied(self.pool, self.tenant) >= expected:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {await applied(self.pool, self.tenant)} of {expected}")
            # With commit times the figures do not depend on how often this looks.
            await asyncio.sleep(0.5 if self.commit_times else self.interval)
        if self.commit_times:
            await self._read_commit_times()
        else:
            await self._note_visible()

    async def _note_visible(self) -> None:
        """Entries past the last seen one. (Two members commit out of seq order, so an entry can
        appear behind the last seen one and be missed: the lags are then a large sample.)"""
        rows = await self.pool.fetch(
            """SELECT seq, extract(epoch FROM effective_at) AS sent FROM ledger_entries
               WHERE tenant_id = $1 AND seq > $2 ORDER BY seq""",
            self.tenant,
            self._last_seq,
        )
        now = time.time()
        if rows:
            self._last_seq = rows[-1]["seq"]
            self.lags += [now - float(r["sent"]) for r in rows]
            self.last_visible = now
            self.first_sent = self.first_sent or float(rows[0]["sent"])

    async def _read_commit_times(self) -> None:
        rows = await self.pool.fetch(
            """SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin)) AS committed,
                      extract(epoch FROM effective_at) AS sent
               FROM ledger_entries WHERE tenant_id = $1""",
            self.tenant,
        )
        self.lags = [float(r["committed"]) - float(r["sent"]) for r in rows]
        self.last_visible = max(float(r["committed"]) for r in rows)
        self.first_sent = min(float(r["sent"]) for r in rows)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


async def wait_for_group(bootstrap: str, group: str, members: int, timeout: float = 60) -> None:
    """Until the consumer group is stable with all its members, so no rebalance (a pause of every
    member) lands in the timed stream."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            [response] = await admin.describe_consumer_groups([group])
            _, _, state, _, _, found = response.groups[0][:6]
            if state == "Stable" and len(found) == members:
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"group {group} not stable with {members} members")
    finally:
        await admin.close()


async def set_based(
    bootstrap: str,
    dsn: str,
    n: int,
    customers: int,
    instances: int = 1,
    rate: float | None = None,
) -> dict[str, Any]:
    box = Sandbox.new("batch")
    await box.create_topics(bootstrap)
    pool = await box.pool(dsn)
    w = build_workload(n, customers)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    await send(producer, box.customer_topic, customer_envelopes(w))
    await producer.stop()
    procs = [start_service(box.env(bootstrap, dsn, free_port())) for _ in range(instances)]
    watcher = CommitWatcher(pool, w.tenant)
    try:
        while await pool.fetchval("SELECT count(*) FROM customers") < customers:
            await asyncio.sleep(0.1)
        await wait_for_group(
            bootstrap, box.consumer, instances * BillingSettings().consumer_members
        )
        await watcher.start()
        first = await stream(bootstrap, box.tx_topic, w, rate=rate)
        sent_done = time.perf_counter()
        await watcher.wait_for(w.unique)
        elapsed = watcher.last_visible - watcher.first_sent
        problems = await check_exactly_once(pool, w)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
    await box.drop(pool)
    return {
        "events_sent": w.sent,
        "unique_facts": w.unique,
        "events_per_s": w.sent / elapsed,
        "producer_s": sent_done - first,
        "lag_p50_ms": watcher.percentile(0.5) * 1000,
        "lag_p99_ms": watcher.percentile(0.99) * 1000,
        "problems": problems,
    }


async def simple(
    bootstrap: str, dsn: str, n: int, customers: int, warmup: int = 500
) -> dict[str, Any]:
    """The simplest correct consumer: one database transaction and one offset commit per event.

    Per event it does what the set-based consumer does per poll, with the same handler: inbox
    row, ledger entry, balance row, flags and outbox row (one inbox row per event). Timed after
    `warmup` events, so connection set-up and first-statement planning are not counted.
    """
    box = Sandbox.new("simple")
    await box.create_topics(bootstrap)
    pool = await box.pool(dsn)
    w = build_workload(n + warmup, customers, seed=11)
    # Customers straight into the tables: this phase times transactions only.
    async with pool.acquire() as conn, conn.transaction():
        await upsert_customers(
            conn, ((w.tenant, snapshot(c), datetime.now(UTC)) for c in w.customers)
        )
    await stream(bootstrap, box.tx_topic, w)
    consumer = AIOKafkaConsumer(
        box.tx_topic,
        bootstrap_servers=bootstrap,
        group_id=box.consumer,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    handler = ApplyBillingEvents()
    await consumer.start()
    seen = 0
    started = time.perf_counter()
    try:
        while seen < w.sent:
            record = await consumer.getone()
            envelope, data = parse_event(record.value)
            async with pool.acquire() as conn, conn.transaction():
                await handler.apply_batch(
                    conn, box.consumer, [InboundEvent(envelope, data, record)]
                )
            await consumer.commit()
            seen += 1
            if seen == warmup:
                started = time.perf_counter()
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
    problems = await check_exactly_once(pool, w)
    await box.drop(pool)
    timed = w.sent - warmup
    return {"events": timed, "events_per_s": timed / elapsed, "problems": problems}


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--simple-events", type=int, default=5000, help="timed, after 500 more")
    parser.add_argument(
        "--instances", type=int, default=1, help="billing processes in the consumer group"
    )
    parser.add_argument(
        "--rate", type=float, default=5000, help="items/s of the paced phase (lag under load)"
    )
    parser.add_argument("--seconds", type=float, default=10, help="length of the paced phase")
    args = parser.parse_args()
    bootstrap, dsn = load_env()

    batch = await set_based(bootstrap, dsn, args.events, args.customers, args.instances)
    print(
        f"set-based consumer ({args.instances} process(es)): {batch['events_per_s']:,.0f} events/s over {batch['events_sent']:,} "
        f"events ({args.events:,} facts and their re-sends; {batch['unique_facts']:,} applied), "
        f"lag p50 {batch['lag_p50_ms']:.0f} ms, p99 {batch['lag_p99_ms']:.0f} ms; "
        f"producer finished after {batch['producer_s']:.1f}s"
    )
    print(f"  exactly-once check: {'ok' if not batch['problems'] else batch['problems'][:5]}")
    paced = await set_based(
        bootstrap, dsn, int(args.rate * args.seconds), args.customers, args.instances, args.rate
    )
    print(
        f"paced at {args.rate:,.0f} facts/s for {args.seconds:.0f}s: lag p50 "
        f"{paced['lag_p50_ms']:.0f} ms, p99 {paced['lag_p99_ms']:.0f} ms "
        f"(send -> commit, {paced['events_sent']:,} events)"
    )
    print(f"  exactly-once check: {'ok' if not paced['problems'] else paced['problems'][:5]}")
    one = await simple(bootstrap, dsn, args.simple_events, args.customers)
    print(
        f"simple consumer (1 transaction + 1 commit per event): {one['events_per_s']:,.0f} events/s over {one['events']:,} events"
    )
    print(f"  exactly-once check: {'ok' if not one['problems'] else one['problems'][:5]}")
    print(f"ratio: {batch['events_per_s'] / one['events_per_s']:.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
