"""Event type name -> payload model, and the one function consumers use to read a message."""

from __future__ import annotations

from platform_events.contracts import billing, customer, quickbooks
from platform_events.envelope import Envelope, EventData

_ALL: tuple[type[EventData], ...] = (
    customer.CustomerCreated,
    customer.CustomerUpdated,
    customer.CustomerInactivated,
    customer.CustomerReactivated,
    customer.MappingSaved,
    billing.InvoiceIssued,
    billing.InvoiceVoided,
    billing.PaymentReceived,
    billing.PaymentReversed,
    billing.RefundIssued,
    billing.CreditApplied,
    billing.AdjustmentPosted,
    billing.BalanceChanged,
    billing.CreditLimitExceeded,
    billing.OverdueChanged,
    billing.BillingTransactionRejected,
    quickbooks.QuickBooksCustomerMirrored,
    quickbooks.QuickBooksCustomerLinked,
    quickbooks.QuickBooksSyncFailed,
    quickbooks.QuickBooksWebhookReceived,
)

EVENT_TYPES: dict[str, type[EventData]] = {model.event_type: model for model in _ALL}


class UnknownEventType(ValueError):
    pass


def data_model_for(event_type: str) -> type[EventData]:
    try:
        return EVENT_TYPES[event_type]
    except KeyError:
        raise UnknownEventType(f"unknown event type {event_type!r}") from None


def parse_event(raw: bytes | str) -> tuple[Envelope, EventData]:
    """Validate the envelope and its payload. Raises pydantic.ValidationError or UnknownEventType."""
    envelope = Envelope.model_validate_json(raw)
    data = data_model_for(envelope.type).model_validate(envelope.data)
    return envelope, data
