"""Property tests: after any interleaving, duplication and restart, stored balance = ledger sum
and current = invoiced - paid + refunded - credits + adjustments, equal to the totals computed
from the source events.

The pure tests draw entry lists directly. The integration test lets hypothesis write a whole
script for the real broker and database: transactions for up to three customers whose
CustomerCreated may come before, among or after their transactions (or never), voids and
reversals that may precede what they correct, re-sends of earlier events (same id, new id with
the same content, new id with other content) that often arrive after the original was
committed, chunk boundaries where the consumer is stopped or cancelled mid-poll and restarted,
and a random poll size.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_service.domain.entries import SIGN, EntryType, Totals
from billing_service.handlers.apply_billing_events import ApplyBillingEvents
from billing_service.store.recompute import differences
from platform_events import Envelope, EventData
from platform_events.contracts import billing as ev
from platform_events.contracts.customer import CustomerUpdated
from platform_kit.consumer import ConsumerRunner
from platform_kit.kafka import idempotent_producer
from tests.billing.support import (
    customer_created,
    envelope,
    ledger_schema,
    money,
    new_tenant,
    publish,
    snapshot,
    wait_for,
)
from tests.conftest import create_test_topics

amounts = st.integers(min_value=1, max_value=10**9)
plain_entries = st.tuples(
    st.sampled_from(
        [
            EntryType.INVOICE,
            EntryType.PAYMENT,
            EntryType.REFUND,
            EntryType.CREDIT,
            EntryType.ADJUSTMENT,
        ]
    ),
    amounts,
    st.booleans(),  # adjustments may be negative
)


@given(st.lists(plain_entries, max_size=60), st.randoms())
def test_totals_identity_holds_for_any_order(entries, rnd) -> None:  # type: ignore[no-untyped-def]
    signed = [
        (kind, (-1 if negative and kind is EntryType.ADJUSTMENT else 1) * SIGN[kind] * amount)
        for kind, amount, negative in entries
    ]
    shuffled = list(signed)
    rnd.shuffle(shuffled)
    totals = [Totals(), Totals()]
    for i, ordering in enumerate((signed, shuffled)):
        for kind, amount in ordering:
            totals[i] = totals[i].add(kind, amount)
    assert totals[0] == totals[1]
    assert totals[0].current == sum(a for _, a in signed)
    assert totals[0].consistent


@given(st.lists(plain_entries, max_size=30), st.integers(1, 5))
def test_merging_batches_equals_one_pass(entries, cut) -> None:  # type: ignore[no-untyped-def]
    """The consumer sums per batch and adds to the stored row: batching must not matter."""
    signed = [(kind, SIGN[kind] * amount) for kind, amount, _ in entries]
    whole, merged, part = Totals(), Totals(), Totals()
    for i, (kind, amount) in enumerate(signed):
        whole = whole.add(kind, amount)
        part = part.add(kind, amount)
        if i % cut == 0:
            merged, part = merged.merge(part), Totals()
    assert merged.merge(part) == whole


# --- the integration property ---------------------------------------------------------------

CUSTOMERS = ("a", "b", "c")
TARGETED = st.sampled_from(("a", "a", "a", "b", "c"))  # most steps on one customer: more overlap
PLAIN = ("invoice", "payment", "refund", "credit", "adjustment")

new_fact = st.tuples(
    st.just("new"),
    TARGETED,
    st.sampled_from(("invoice", "invoice", "payment", "payment", *PLAIN[2:])),
    amounts,
    st.booleans(),
)
correction = st.tuples(
    st.just("correct"),
    TARGETED,
    st.sampled_from(("void", "reverse")),
    st.integers(0, 2),  # which of the customer's invoices / payments, issued or not (yet)
)
again = st.tuples(
    st.just("again"),
    st.integers(0, 10**6),  # which earlier delivery (modulo how many there are)
    st.sampled_from(("same-id", "new-id", "other", "other")),
)
created = st.tuples(st.just("customer"), TARGETED)
cut = st.tuples(
    st.just("cut"), st.booleans(), st.sampled_from(("keep", "stop", "cancel"))
)  # (wait until processed, what happens to the consumer)
script_steps = st.lists(
    st.one_of(new_fact, new_fact, new_fact, correction, again, again, created, cut),
    min_size=1,
    max_size=45,
)


@dataclass
class Script:
    """A drawn script turned into chunks of envelopes, and the totals they must produce."""

    tenant: str
    chunks: list[tuple[list[tuple[str, Envelope]], bool, str]] = field(default_factory=list)
    transactions: list[Envelope] = field(default_factory=list)  # every tx delivery, in order
    created: set[str] = field(default_factory=set)

    def expected(self) -> dict[str, Totals]:
        """First content per natural key wins; a correction applies once its original exists."""
        first: dict[str, dict[str, EventData]] = {c: {} for c in CUSTOMERS}
        for e in self.transactions:
            data = _data(e)
            first[e.subject].setdefault(_key(data), data)
        totals: dict[str, Totals] = {}
        for cust in sorted(self.created):
            t = Totals()
            for data in first[cust].values():
                if isinstance(data, ev.InvoiceVoided | ev.PaymentReversed):
                    target = first[cust].get(_target(data))
                    if target is not None:
                        kind = _kind(data)
                        t = t.add(kind, -SIGN[_kind(target)] * target.amount.amount_minor)  # type: ignore[attr-defined]
                else:
                    t = t.add(_kind(data), SIGN[_kind(data)] * data.amount.amount_minor)  # type: ignore[attr-defined]
            totals[cust] = t
        return totals


def build_script(steps: list[tuple[Any, ...]], uncreated: str | None) -> Script:
    s = Script(new_tenant())
    counters: dict[tuple[str, str], int] = {}
    chunk: list[tuple[str, Envelope]] = []
    customer_versions: dict[str, int] = {}

    def deliver(topic: str, e: Envelope) -> None:
        chunk.append((topic, e))
        if topic == "tx":
            s.transactions.append(e)

    for step in steps:
        if step[0] == "new":
            _, cust, kind, amount, negative = step
            n = counters.get((cust, kind), 0)
            counters[(cust, kind)] = n + 1
            deliver("tx", envelope(_plain(cust, kind, n, amount, negative), s.tenant))
        elif step[0] == "correct":
            _, cust, kind, target = step
            data: EventData = (
                ev.InvoiceVoided(customer_id=cust, invoice_id=f"{cust}-invoice-{target}")
                if kind == "void"
                else ev.PaymentReversed(customer_id=cust, payment_id=f"{cust}-payment-{target}")
            )
            deliver("tx", envelope(data, s.tenant))
        elif step[0] == "again" and s.transactions:
            _, pick, how = step
            e = s.transactions[pick % len(s.transactions)]
            if how == "same-id":
                deliver("tx", e)
            else:
                data = _data(e) if how == "new-id" else _changed(_data(e))
                deliver("tx", envelope(data, s.tenant))
        elif step[0] == "customer" and step[1] != uncreated:
            cust = step[1]
            version = customer_versions.get(cust, 0) + 1
            customer_versions[cust] = version
            fact = (
                customer_created(cust)
                if version == 1
                else CustomerUpdated(
                    customer=snapshot(cust, version=version, credit_limit_minor=version * 1000),
                    changed_fields=["credit_limit_minor"],
                )
            )
            deliver("customer", envelope(fact, s.tenant))
            s.created.add(cust)
        elif step[0] == "cut":
            s.chunks.append((chunk, step[1], step[2]))
            chunk = []
    for cust in CUSTOMERS:  # everyone is created in the end, but maybe one customer
        if cust not in customer_versions and cust != uncreated:
            deliver("customer", envelope(customer_created(cust), s.tenant))
            s.created.add(cust)
    s.chunks.append((chunk, True, "keep"))
    return s


def _plain(cust: str, kind: str, n: int, amount: int, negative: bool) -> EventData:
    ref = f"{cust}-{kind}-{n}"
    if kind == "invoice":
        return ev.InvoiceIssued(customer_id=cust, invoice_id=ref, amount=money(amount))
    if kind == "payment":
        return ev.PaymentReceived(customer_id=cust, payment_id=ref, amount=money(amount))
    if kind == "refund":
        return ev.RefundIssued(customer_id=cust, refund_id=ref, amount=money(amount))
    if kind == "credit":
        return ev.CreditApplied(customer_id=cust, credit_id=ref, amount=money(amount))
    signed = -amount if negative else amount
    return ev.AdjustmentPosted(
        customer_id=cust, adjustment_id=ref, amount=money(signed), reason="p"
    )


def _changed(data: EventData) -> EventData:
    """Same natural key, other content."""
    if isinstance(data, ev.InvoiceVoided | ev.PaymentReversed):
        return data.model_copy(update={"reason": f"{data.reason or ''}+"})
    amount = data.amount  # type: ignore[attr-defined]
    return data.model_copy(
        update={"amount": amount.model_copy(update={"amount_minor": amount.amount_minor + 1})}
    )


_TYPES = {
    ev.InvoiceIssued: (EntryType.INVOICE, "invoice_id"),
    ev.InvoiceVoided: (EntryType.INVOICE_VOID, "invoice_id"),
    ev.PaymentReceived: (EntryType.PAYMENT, "payment_id"),
    ev.PaymentReversed: (EntryType.PAYMENT_REVERSAL, "payment_id"),
    ev.RefundIssued: (EntryType.REFUND, "refund_id"),
    ev.CreditApplied: (EntryType.CREDIT, "credit_id"),
    ev.AdjustmentPosted: (EntryType.ADJUSTMENT, "adjustment_id"),
}
_PARSE = {cls.event_type: cls for cls in _TYPES}


def _data(e: Envelope) -> EventData:
    return _PARSE[e.type].model_validate(e.data)


def _kind(data: EventData) -> EntryType:
    return _TYPES[type(data)][0]


def _key(data: EventData) -> str:
    kind, ref = _TYPES[type(data)]
    return f"{kind.value}:{getattr(data, ref)}"


def _target(data: EventData) -> str:
    kind = EntryType.INVOICE if isinstance(data, ev.InvoiceVoided) else EntryType.PAYMENT
    return f"{kind.value}:{getattr(data, _TYPES[type(data)][1])}"


@dataclass
class Lab:
    pool: asyncpg.Pool
    bootstrap: str
    tx_topic: str
    customer_topic: str
    consumer: str
    dlq: AIOKafkaProducer


@pytest.fixture(scope="module")
async def lab(database_url: str, kafka_bootstrap: str) -> AsyncIterator[Lab]:
    tag = uuid.uuid4().hex[:8]
    tx, customers = f"test.prop-tx.{tag}", f"test.prop-customers.{tag}"
    await create_test_topics(kafka_bootstrap, [tx, customers, f"{tx}.dlq", f"{customers}.dlq"])
    dlq = idempotent_producer(kafka_bootstrap, "billing-prop-dlq")
    await dlq.start()
    try:
        async with ledger_schema(database_url) as pool:
            yield Lab(pool, kafka_bootstrap, tx, customers, f"billing-prop-{tag}", dlq)
    finally:
        await dlq.stop()


def _runner(lab: Lab, max_records: int) -> ConsumerRunner:
    return ConsumerRunner(
        name=lab.consumer,
        topics=[lab.customer_topic, lab.tx_topic],
        pool=lab.pool,
        bootstrap=lab.bootstrap,
        handler=ApplyBillingEvents(),
        max_records=max_records,
        dlq_producer=lab.dlq,  # shared, so a cancelled runner leaks nothing
    )


async def _restart(lab: Lab, runner: ConsumerRunner, how: str, max_records: int) -> ConsumerRunner:
    if how == "cancel":  # a crash: possibly mid-poll, or between the commit and the offsets
        # Once it is a member of the group: a JoinGroup cut off in flight leaves the broker
        # waiting for a member that never answers (a test artefact, not a process crash).
        await runner.started.wait()
        await wait_for(lambda: _assigned(runner))
        assert runner._task is not None
        runner._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner._task
        # A dead process leaves the group; a cancelled start-up would leave a live zombie here.
        if runner.consumer is not None:
            await runner.consumer.stop()
    else:
        await runner.stop()
    fresh = _runner(lab, max_records)
    fresh.start()
    return fresh


async def _assigned(runner: ConsumerRunner) -> bool:
    return bool(runner.consumer and runner.consumer.assignment())


async def _processed(lab: Lab, ids: set[uuid.UUID]) -> bool:
    """Every event id is handled: in the inbox (applied, duplicate, conflict) or parked."""
    n = await lab.pool.fetchval(
        """SELECT count(*) FROM (
               SELECT event_id FROM inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])
               UNION SELECT event_id FROM pending_transactions WHERE event_id = ANY($2::uuid[])) x""",
        lab.consumer,
        list(ids),
    )
    return bool(n == len(ids))


@pytest.mark.integration
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=script_steps,
    uncreated=st.one_of(st.none(), st.none(), st.just("c")),
    max_records=st.sampled_from([1, 3, 10, 500]),
)
async def test_stored_balances_equal_the_source_after_any_script(
    lab: Lab, steps: list[tuple[Any, ...]], uncreated: str | None, max_records: int
) -> None:
    script = build_script(steps, uncreated)
    await run_script(lab, script, max_records)
    await check_outcome(lab, script)


async def run_script(lab: Lab, script: Script, max_records: int) -> None:
    runner = _runner(lab, max_records)
    runner.start()
    sent: set[uuid.UUID] = set()
    try:
        for chunk, settle, then in script.chunks:
            sent |= {e.id for _, e in chunk}
            for topic, run in itertools.groupby(chunk, key=lambda item: item[0]):
                name = lab.customer_topic if topic == "customer" else lab.tx_topic
                await publish(lab.bootstrap, name, [e for _, e in run])
            if settle:
                await wait_for(functools.partial(_processed, lab, sent))
            if then != "keep":
                runner = await _restart(lab, runner, then, max_records)
        await wait_for(functools.partial(_processed, lab, sent))
    finally:
        await runner.stop()


async def check_outcome(lab: Lab, script: Script) -> None:
    rows = await lab.pool.fetch("SELECT * FROM balances WHERE tenant_id = $1", script.tenant)
    stored = {
        r["customer_id"]: (
            r["current_balance_minor"],
            r["total_invoiced_minor"],
            r["total_paid_minor"],
            r["total_refunded_minor"],
            r["total_credits_minor"],
            r["total_adjustments_minor"],
        )
        for r in rows
    }
    want = {
        c: (t.current, t.invoiced, t.paid, t.refunded, t.credits, t.adjustments)
        for c, t in script.expected().items()
        if t.entries
    }
    assert stored == want
    assert await differences(lab.pool) == []
    for current, invoiced, paid, refunded, credits, adjustments in stored.values():
        assert current == invoiced - paid + refunded - credits + adjustments
