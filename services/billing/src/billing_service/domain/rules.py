"""What may enter the ledger. Each rule answers with a reason, or None when the fact is fine."""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime

from billing_service.domain.entries import SIGN, EntryType
from billing_service.domain.facts import Fact


@dataclass(frozen=True, order=True)
class CustomerVersion:
    """One customer version as the rules need it, from the time its event happened."""

    effective_at: datetime
    version: int
    currency: str
    active: bool


@dataclass(frozen=True)
class CustomerFacts:
    """What billing knows about a customer, learned from customer events."""

    tenant_id: str
    customer_id: str
    currency: str
    active: bool
    credit_limit_minor: int | None = None
    parent_id: str | None = None
    history: tuple[CustomerVersion, ...] = ()  # sorted by effective_at, then version

    def as_of(self, when: datetime) -> CustomerFacts:
        """The customer as it was at `when`: the newest version that had taken effect by then.

        A transaction is judged by the customer at the transaction's own time, so it does not
        matter whether a later customer event was consumed in the same poll or a later one. A
        time before every known version gets the first known version.
        """
        if not self.history:
            return self
        if len(self.history) == 1:  # the usual case: one version known
            chosen = self.history[0]
        else:
            at = bisect.bisect_right(self.history, when, key=_effective_at)
            # Among versions effective by `when`, the highest wins (equal times included).
            seen = self.history[:at] or self.history[:1]
            chosen = max(seen, key=_version)
        if chosen.currency == self.currency and chosen.active == self.active:
            return self  # the usual case, and a copy per transaction adds up in the consumer
        return replace(self, currency=chosen.currency, active=chosen.active)


def _effective_at(version: CustomerVersion) -> datetime:
    return version.effective_at


def _version(version: CustomerVersion) -> int:
    return version.version


@dataclass(frozen=True)
class Original:
    """The entry a correction (void, reversal) refers to."""

    entry_id: object
    customer_id: str
    currency: str
    amount_minor: int  # signed, as stored
    order_id: str | None
    allocations: tuple[tuple[str, int], ...]  # signed, as stored


def rejection_reason(fact: Fact, customer: CustomerFacts) -> str | None:
    """Why this fact can never be applied to this customer's account (None: it can).

    `customer` is the customer the fact is judged by: see `judged_by`."""
    if fact.amount_minor is not None:
        if fact.entry_type is EntryType.ADJUSTMENT:
            if fact.amount_minor == 0:
                return "an adjustment of zero changes nothing"
        elif fact.amount_minor <= 0:
            return f"{fact.entry_type.value} amount must be positive, got {fact.amount_minor}"
        if fact.currency != customer.currency:
            return (
                f"currency {fact.currency} does not match the account currency "
                f"{customer.currency}; amounts are never converted"
            )
    if fact.allocations and fact.amount_minor is not None:
        counts = Counter(order for order, _ in fact.allocations)
        repeated = sorted(order for order, n in counts.items() if n > 1)
        if repeated:
            # Ambiguous (two lines to add up, or one sent twice?): the producer must say which.
            return f"allocations name order {', '.join(repeated)} more than once"
        if sum(amount for _, amount in fact.allocations) > fact.amount_minor:
            return "allocations to orders exceed the payment amount"
    if fact.entry_type is EntryType.INVOICE and not customer.active:
        return "customer is inactive: new invoices are refused"
    return None


def judged_by(fact: Fact, customer: CustomerFacts, *, refused_before: bool) -> CustomerFacts:
    """A transaction is judged by the customer as of the transaction's own time, so whether a
    customer event shared its poll does not matter. One refused before and seen again (replayed
    from the DLQ after a fix) is judged by the customer as it is now: replaying is the
    operator's word that the cause (inactive customer, wrong currency) is fixed."""
    return customer if refused_before else customer.as_of(fact.occurred_at)


def correction_reason(fact: Fact, original: Original) -> str | None:
    if original.customer_id != fact.customer_id:
        return f"{fact.reverses_key} belongs to another customer"
    return None


def signed_amount(fact: Fact, original: Original | None) -> int:
    """The entry's signed amount: a correction takes the negation of what it corrects."""
    if original is not None:
        return -original.amount_minor
    assert fact.amount_minor is not None
    return SIGN[fact.entry_type] * fact.amount_minor


def signed_allocations(fact: Fact, original: Original | None) -> tuple[tuple[str, int], ...]:
    """How the entry moves each order's balance (invoice: +, payment: -, corrections mirror)."""
    if original is not None:
        return tuple((order, -amount) for order, amount in original.allocations)
    if fact.entry_type is EntryType.INVOICE and fact.order_id:
        assert fact.amount_minor is not None
        return ((fact.order_id, fact.amount_minor),)
    if fact.entry_type is EntryType.PAYMENT:
        return tuple((order, -amount) for order, amount in fact.allocations)
    return ()
