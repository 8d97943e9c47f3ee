"""Credit limit and overdue status of an account, decided from its figures and today's date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


def over_credit_limit(balance: int, credit_limit: int | None) -> bool:
    return credit_limit is not None and balance > credit_limit


@dataclass(frozen=True)
class OverdueStatus:
    overdue: bool
    amount_minor: int
    oldest_due_date: date | None


NOT_OVERDUE = OverdueStatus(False, 0, None)


def overdue_status(
    balance: int, total_invoiced: int, past_due: list[tuple[date, int]]
) -> OverdueStatus:
    """Money left on invoices past their due date, paying the oldest invoices first (FIFO).

    `past_due` are the account's non-voided invoices whose due date has passed. Payments and
    credits settle the oldest invoices first, so what is still owed sits on the newest ones:
    the overdue part is what remains once the invoices not yet due are covered.
    """
    past_due_total = sum(amount for _, amount in past_due)
    not_yet_due = total_invoiced - past_due_total
    amount = max(0, min(balance - not_yet_due, past_due_total))
    if amount == 0:
        return NOT_OVERDUE
    remaining, oldest = amount, None
    for due, invoice_amount in sorted(past_due, reverse=True):  # newest first
        oldest = due
        remaining -= invoice_amount
        if remaining <= 0:
            break
    return OverdueStatus(True, amount, oldest)
