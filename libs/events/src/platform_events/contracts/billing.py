"""Billing transactions (input, `billing.transactions`) and billing facts (`billing.balances`).

Amounts are always `Money` (integer minor units). The natural id of each transaction
(`invoice_id`, `payment_id`, ...) is its idempotency key across producers.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from platform_events.envelope import EventData
from platform_events.money import CurrencyCode, Money


class OrderAllocation(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    order_id: str = Field(min_length=1)
    amount_minor: int = Field(gt=0, strict=True)


class InvoiceIssued(EventData):
    event_type = "billing.invoice-issued.v1"
    customer_id: str = Field(min_length=1)
    invoice_id: str = Field(min_length=1)
    order_id: str | None = None
    amount: Money
    due_date: date | None = None


class InvoiceVoided(EventData):
    event_type = "billing.invoice-voided.v1"
    customer_id: str = Field(min_length=1)
    invoice_id: str = Field(min_length=1)
    reason: str | None = None


class PaymentReceived(EventData):
    event_type = "billing.payment-received.v1"
    customer_id: str = Field(min_length=1)
    payment_id: str = Field(min_length=1)
    amount: Money
    method: str = "other"
    allocations: list[OrderAllocation] = Field(default_factory=list)
    note: str | None = None


class PaymentReversed(EventData):
    event_type = "billing.payment-reversed.v1"
    customer_id: str = Field(min_length=1)
    payment_id: str = Field(min_length=1)
    reason: str | None = None


class RefundIssued(EventData):
    event_type = "billing.refund-issued.v1"
    customer_id: str = Field(min_length=1)
    refund_id: str = Field(min_length=1)
    amount: Money
    reason: str | None = None


class CreditApplied(EventData):
    event_type = "billing.credit-applied.v1"
    customer_id: str = Field(min_length=1)
    credit_id: str = Field(min_length=1)
    amount: Money
    reason: str | None = None


class AdjustmentPosted(EventData):
    """Signed adjustment: positive means the customer owes more."""

    event_type = "billing.adjustment-posted.v1"
    customer_id: str = Field(min_length=1)
    adjustment_id: str = Field(min_length=1)
    amount: Money
    reason: str = Field(min_length=1)


class BalanceChanged(EventData):
    event_type = "billing.balance-changed.v1"
    customer_id: str
    currency: CurrencyCode
    current_balance_minor: int
    total_invoiced_minor: int
    total_paid_minor: int
    total_refunded_minor: int
    total_credits_minor: int
    total_adjustments_minor: int
    caused_by_entry: str


class CreditLimitExceeded(EventData):
    event_type = "billing.credit-limit-exceeded.v1"
    customer_id: str
    currency: CurrencyCode
    credit_limit_minor: int
    current_balance_minor: int
    exceeded: bool = True


class OverdueChanged(EventData):
    event_type = "billing.overdue-changed.v1"
    customer_id: str
    overdue: bool
    overdue_amount_minor: int = 0
    oldest_due_date: date | None = None
    # Billing keeps overdue per account (customer, currency); None only in events sent before
    # the field existed. Consumers combine currencies: a customer is overdue if any account is.
    currency: CurrencyCode | None = None


class BillingTransactionRejected(EventData):
    event_type = "billing.transaction-rejected.v1"
    customer_id: str
    rejected_event_id: str
    rejected_type: str
    reason: str
