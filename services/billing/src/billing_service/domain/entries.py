"""Entry types, their signs, and the totals every account derives from its entries.

Amounts are signed integer minor units: + means the customer owes more, - means it owes less.
"""

from __future__ import annotations

from dataclasses import dataclass
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


_INVOICING = frozenset({EntryType.INVOICE, EntryType.INVOICE_VOID})
_PAYING = frozenset({EntryType.PAYMENT, EntryType.PAYMENT_REVERSAL})


@dataclass(frozen=True, slots=True)
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
        invoiced, paid, refunded, credits, adjustments = (
            self.invoiced,
            self.paid,
            self.refunded,
            self.credits,
            self.adjustments,
        )
        if entry_type in _INVOICING:
            invoiced += signed_amount
        elif entry_type in _PAYING:
            paid -= signed_amount  # payments are stored negative
        elif entry_type is EntryType.REFUND:
            refunded += signed_amount
        elif entry_type is EntryType.CREDIT:
            credits -= signed_amount
        else:
            adjustments += signed_amount
        return Totals(
            self.current + signed_amount,
            invoiced,
            paid,
            refunded,
            credits,
            adjustments,
            self.entries + 1,
        )

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
