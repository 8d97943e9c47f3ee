"""Property tests: after any interleaving and duplication, stored balance = ledger sum and
current = invoiced - paid + refunded - credits + adjustments.

The pure test draws event streams directly; the integration test lets hypothesis draw the
stream's shape (seed, size, customers, re-send rate) and runs it through the real broker and
database, comparing with totals computed from the source events.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.billing_ingest import build_workload, check_exactly_once, customer_envelopes, stream
from billing_service.domain.entries import SIGN, EntryType, Totals
from billing_service.store.recompute import differences
from tests.billing.conftest import BillingUnderTest
from tests.billing.support import publish, wait_for

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


@pytest.mark.integration
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**31),
    size=st.integers(1, 120),
    customers=st.integers(1, 4),
    resend_rate=st.sampled_from([0.0, 0.2, 0.5]),
)
async def test_stored_balances_equal_the_source_after_any_stream(
    billing: BillingUnderTest, seed: int, size: int, customers: int, resend_rate: float
) -> None:
    w = build_workload(size, customers, seed=seed, resend_rate=resend_rate)
    await publish(billing.bootstrap, billing.customer_topic, customer_envelopes(w))
    await wait_for(
        lambda: billing.pool.fetchval(
            "SELECT count(*) = $2 FROM customers WHERE tenant_id = $1", w.tenant, customers
        )
    )
    await stream(billing.bootstrap, billing.tx_topic, w)
    await wait_for(
        lambda: billing.pool.fetchval(
            "SELECT count(*) = $2 FROM ledger_entries WHERE tenant_id = $1", w.tenant, w.unique
        )
    )
    assert await check_exactly_once(billing.pool, w) == []
    assert await differences(billing.pool) == []
    rows = await billing.pool.fetch("SELECT * FROM balances WHERE tenant_id = $1", w.tenant)
    for r in rows:
        assert r["current_balance_minor"] == (
            r["total_invoiced_minor"]
            - r["total_paid_minor"]
            + r["total_refunded_minor"]
            - r["total_credits_minor"]
            + r["total_adjustments_minor"]
        )
