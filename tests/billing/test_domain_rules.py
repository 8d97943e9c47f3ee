"""Pure ledger rules: no broker, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from billing_service.domain.entries import EntryType
from billing_service.domain.facts import ENTRY_NAMESPACE, content_hash, fact_from_event
from billing_service.domain.flags import over_credit_limit, overdue_status
from billing_service.domain.rules import (
    CustomerFacts,
    CustomerVersion,
    judged_by,
    rejection_reason,
)
from tests.billing.support import invoice, payment


def fact(data, when: datetime | None = None):  # type: ignore[no-untyped-def]
    return fact_from_event(
        data, event_id=uuid.uuid4(), tenant_id="t", occurred_at=when or datetime.now(UTC)
    )


USD_ACTIVE = CustomerFacts("t", "c", "USD", active=True)


def test_natural_key_and_entry_id_are_stable_across_event_ids() -> None:
    a, b = fact(payment("c", "p1", 100)), fact(payment("c", "p1", 100))
    assert a.idempotency_key == "payment:p1" and a.entry_id == b.entry_id
    assert a.content_hash == b.content_hash
    assert content_hash(payment("c", "p1", 101)) != a.content_hash


def test_entry_ids_are_the_uuid5_of_tenant_and_natural_key() -> None:
    """Stored entry ids were minted by uuid5: the same fact must keep finding its entry."""
    for tenant, invoice_id in [("t", "i-1"), ("tenant-é", "x" * 300), ("t2", "ünïcode")]:
        f = fact_from_event(
            invoice("c", invoice_id, 5),
            event_id=uuid.uuid4(),
            tenant_id=tenant,
            occurred_at=datetime.now(UTC),
        )
        expected = uuid.uuid5(ENTRY_NAMESPACE, f"{tenant}\ninvoice:{invoice_id}")
        assert f.entry_id == expected and str(f.entry_id) == str(expected)
        assert hash(f.entry_id) == hash(expected) and f.entry_id.version == 5


def test_currency_mismatch_and_inactive_invoice_are_refused() -> None:
    assert "never converted" in (
        rejection_reason(fact(invoice("c", "i", 5, "EUR")), USD_ACTIVE) or ""
    )
    inactive = CustomerFacts("t", "c", "USD", active=False)
    assert "inactive" in (rejection_reason(fact(invoice("c", "i", 5)), inactive) or "")
    assert rejection_reason(fact(payment("c", "p", 5)), inactive) is None
    assert rejection_reason(fact(invoice("c", "i", 0)), USD_ACTIVE) is not None


def test_allocations_cannot_exceed_the_payment() -> None:
    over = payment("c", "p", 5, allocations=[{"order_id": "o", "amount_minor": 6}])
    assert (
        rejection_reason(fact(over), USD_ACTIVE)
        == "allocations to orders exceed the payment amount"
    )
    assert fact(over).entry_type is EntryType.PAYMENT


def test_overdue_pays_oldest_invoices_first() -> None:
    # Invoiced 100 (due Jan 1) + 50 (due Feb 1) + 30 not yet due; paid 120: 60 left.
    status = overdue_status(60, 180, [(date(2026, 1, 1), 100), (date(2026, 2, 1), 50)])
    assert status.overdue and status.amount_minor == 30
    assert status.oldest_due_date == date(2026, 2, 1)
    assert not overdue_status(30, 180, [(date(2026, 1, 1), 100), (date(2026, 2, 1), 50)]).overdue
    assert (
        overdue_status(500, 150, [(date(2026, 1, 1), 100), (date(2026, 2, 1), 50)]).amount_minor
        == 150
    )


def test_credit_limit() -> None:
    assert over_credit_limit(101, 100) and not over_credit_limit(100, 100)
    assert not over_credit_limit(10**12, None)


def test_an_order_named_twice_in_allocations_is_refused() -> None:
    twice = payment(
        "c",
        "p",
        50,
        allocations=[{"order_id": "o", "amount_minor": 10}, {"order_id": "o", "amount_minor": 20}],
    )
    assert rejection_reason(fact(twice), USD_ACTIVE) == "allocations name order o more than once"


T = datetime(2026, 1, 1, tzinfo=UTC)
# Created active in USD, inactivated at +10 min, reactivated at +30 min.
HISTORY = CustomerFacts(
    "t",
    "c",
    "USD",
    active=True,
    history=(
        CustomerVersion(T, 1, "USD", True),
        CustomerVersion(T + timedelta(minutes=10), 2, "USD", False),
        CustomerVersion(T + timedelta(minutes=30), 3, "USD", True),
    ),
)


def test_a_transaction_is_judged_by_the_customer_as_of_its_own_time() -> None:
    def refused(minutes: int, refused_before: bool = False) -> bool:
        f = fact(invoice("c", "i", 5), T + timedelta(minutes=minutes))
        judge = judged_by(f, HISTORY, refused_before=refused_before)
        return rejection_reason(f, judge) is not None

    assert [refused(m) for m in (-5, 5, 10, 20, 30, 40)] == [
        False,  # before the first known version: judged by the first one
        False,
        True,
        True,
        False,
        False,
    ]
    # Seen again after a refusal (a DLQ replay after the fix): judged by the customer now.
    assert not refused(20, refused_before=True)
