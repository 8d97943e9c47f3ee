"""Entry types, their signs, and the totals every account derives from its entries.

Amounts are signed integer minor units: + means the customer owes more, - means it owes less.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class EntryType(StrEnum):
    INVOICE = "invoice"
    INVOICE_VOID = "invoice_void"
    PAYMENT = "payment"
    PAYMENT_REVERSAL = "payment_reversal"
    REFUND = "refund"
    CREDIT = "credit"
    ADJUSTMENT = "adjustment"


# Sign applied to the (positive) amount the event carries. Adjustments carry their own sign.
SIGN: dict[EntryType, int] = {
    EntryType.INVOICE: +1,
    EntryType.INVOICE_VOID: -1,
    EntryType.PAYMENT: -1,
    EntryType.PAYMENT_REVERSAL: +1,
    EntryType.REFUND: +1,
    EntryType.CREDIT: -1,
    EntryType.ADJUSTMENT: +1,
}


@dataclass(frozen=True)
class Totals:
    """The derived figures of one account. `current` always equals the sum of its entries."""

    current: int = 0
    invoiced: int = 0
    paid: int = 0
    refunded: int = 0
    credits: int = 0
    adjustments: int = 0
    entries: int = 0

    def add(self, entry_type: EntryType, signed_amount: int) -> Totals:
        t = replace(self, current=self.current + signed_amount, entries=self.entries + 1)
        if entry_type in (EntryType.INVOICE, EntryType.INVOICE_VOID):
            return replace(t, invoiced=t.invoiced + signed_amount)
        if entry_type in (EntryType.PAYMENT, EntryType.PAYMENT_REVERSAL):
            return replace(t, paid=t.paid - signed_amount)  # payments are stored negative
        if entry_type is EntryType.REFUND:
            return replace(t, refunded=t.refunded + signed_amount)
        if entry_type is EntryType.CREDIT:
            return replace(t, credits=t.credits - signed_amount)
        return replace(t, adjustments=t.adjustments + signed_amount)

    def merge(self, other: Totals) -> Totals:
        return Totals(
            current=self.current + other.current,
            invoiced=self.invoiced + other.invoiced,
            paid=self.paid + other.paid,
            refunded=self.refunded + other.refunded,
            credits=self.credits + other.credits,
            adjustments=self.adjustments + other.adjustments,
            entries=self.entries + other.entries,
        )

    @property
    def consistent(self) -> bool:
        """current = invoiced - paid + refunded - credits + adjustments."""
        return self.current == (
            self.invoiced - self.paid + self.refunded - self.credits + self.adjustments
        )
