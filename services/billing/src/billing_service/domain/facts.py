"""A billing transaction as the ledger sees it: one fact, its natural key and its content hash."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast

from asyncpg.pgproto.pgproto import UUID as PgUUID

from billing_service.domain.entries import EntryType
from platform_events import EventData
from platform_events.contracts import billing

# Entry ids are derived from the natural key, so the same fact always gets the same entry id.
ENTRY_NAMESPACE = uuid.UUID("5b0a4c8e-8a51-4d6e-9a57-3f1c0b1f2d10")


_NAMESPACE_BYTES = ENTRY_NAMESPACE.bytes


def entry_id_for(tenant_id: str, idempotency_key: str) -> uuid.UUID:
    """uuid.uuid5(ENTRY_NAMESPACE, f"{tenant_id}\\n{idempotency_key}"), at a third of its cost
    per call: the version and variant bits set on the digest, and asyncpg's UUID (a uuid.UUID,
    equal and hashed alike, what it returns for uuid columns) built from the bytes, which skips
    uuid.UUID's argument checks (tests/billing/test_domain_rules.py compares with uuid5)."""
    digest = bytearray(
        hashlib.sha1(_NAMESPACE_BYTES + f"{tenant_id}\n{idempotency_key}".encode()).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    return PgUUID(bytes(digest))


# The natural key of what a correction corrects: a void its invoice, a reversal its payment.
_CORRECTS: dict[EntryType, EntryType] = {
    EntryType.INVOICE_VOID: EntryType.INVOICE,
    EntryType.PAYMENT_REVERSAL: EntryType.PAYMENT,
}


@dataclass(slots=True, eq=False)
class Fact:
    event_id: uuid.UUID
    event_type: str
    tenant_id: str
    customer_id: str
    entry_type: EntryType
    reference_id: str  # invoice_id, payment_id, ... as the producer named it
    amount_minor: int | None  # None for voids and reversals: they take the original's amount
    currency: str | None
    occurred_at: datetime
    content_hash: str
    order_id: str | None = None
    due_date: date | None = None
    allocations: tuple[tuple[str, int], ...] = ()
    method: str | None = None
    reason: str | None = None
    note: str | None = None
    correlation_id: str | None = None
    # Derived in __post_init__, once: the consumer reads each several times per fact.
    idempotency_key: str = field(init=False)
    reverses_key: str | None = field(init=False)  # the natural key of what this corrects
    entry_id: uuid.UUID = field(init=False)

    def __post_init__(self) -> None:
        # A StrEnum member is its value: formatting it spares the enum's slow `.value`.
        key = f"{self.entry_type}:{self.reference_id}"
        corrects = _CORRECTS.get(self.entry_type)
        self.idempotency_key = key
        self.reverses_key = f"{corrects}:{self.reference_id}" if corrects else None
        self.entry_id = entry_id_for(self.tenant_id, key)


def content_hash(data: EventData) -> str:
    """Every field counts: a re-sent fact must be identical to be a duplicate, else a conflict.

    pydantic writes a model's fields in declaration order, so its JSON is canonical for a given
    contract version (and a quarter of the cost of json.dumps(sort_keys=True) on model_dump)."""
    canonical = data.event_type.encode() + b"\n" + data.model_dump_json().encode()
    return hashlib.sha256(canonical).hexdigest()


def fact_from_event(
    data: EventData,
    *,
    event_id: uuid.UUID,
    tenant_id: str,
    occurred_at: datetime,
    correlation_id: str | None = None,
) -> Fact:
    if occurred_at.tzinfo is None:
        # A time without an offset is UTC, as the ledger stores it (asyncpg writes a naive time
        # as UTC); the rules compare it with customer versions, which always carry one.
        occurred_at = occurred_at.replace(tzinfo=UTC)
    # Any: the shared keyword arguments differ in type per field.
    common: dict[str, Any] = {
        "event_id": event_id,
        "event_type": data.event_type,
        "tenant_id": tenant_id,
        "occurred_at": occurred_at,
        "content_hash": content_hash(data),
        "correlation_id": correlation_id,
    }
    # `type(data) is`, not match/isinstance: pydantic models check instances through ABCMeta,
    # slow per event (bench/billing_ingest.py --profile).
    if type(data) is billing.InvoiceIssued:
        return Fact(
            **common,
            customer_id=data.customer_id,
            entry_type=EntryType.INVOICE,
            reference_id=data.invoice_id,
            amount_minor=data.amount.amount_minor,
            currency=data.amount.currency,
            order_id=data.order_id,
            due_date=data.due_date,
        )
    if type(data) is billing.PaymentReceived:
        return Fact(
            **common,
            customer_id=data.customer_id,
            entry_type=EntryType.PAYMENT,
            reference_id=data.payment_id,
            amount_minor=data.amount.amount_minor,
            currency=data.amount.currency,
            allocations=tuple((a.order_id, a.amount_minor) for a in data.allocations),
            method=data.method,
            note=data.note,
        )
    if type(data) in _REASON_ONLY:
        entry_type, id_field = _REASON_ONLY[type(data)]
        undo = cast(billing.InvoiceVoided | billing.PaymentReversed, data)
        return Fact(
            **common,
            customer_id=undo.customer_id,
            entry_type=entry_type,
            reference_id=getattr(undo, id_field),
            amount_minor=None,
            currency=None,
            reason=undo.reason,
        )
    if type(data) in _AMOUNT_AND_REASON:
        entry_type, id_field = _AMOUNT_AND_REASON[type(data)]
        same = cast(billing.RefundIssued | billing.CreditApplied | billing.AdjustmentPosted, data)
        return Fact(
            **common,
            customer_id=same.customer_id,
            entry_type=entry_type,
            reference_id=getattr(same, id_field),
            amount_minor=same.amount.amount_minor,
            currency=same.amount.currency,
            reason=same.reason,
        )
    raise TypeError(f"not a billing transaction: {data.event_type}")


# Refunds, credits and adjustments carry the same fields (an amount and a reason) under their own
# id, so one mapping serves the three.
_AMOUNT_AND_REASON: dict[type, tuple[EntryType, str]] = {
    billing.RefundIssued: (EntryType.REFUND, "refund_id"),
    billing.CreditApplied: (EntryType.CREDIT, "credit_id"),
    billing.AdjustmentPosted: (EntryType.ADJUSTMENT, "adjustment_id"),
}

# A void and a reversal carry only a reason under the id of what they undo (their amount is the
# original's, found in the ledger).
_REASON_ONLY: dict[type, tuple[EntryType, str]] = {
    billing.InvoiceVoided: (EntryType.INVOICE_VOID, "invoice_id"),
    billing.PaymentReversed: (EntryType.PAYMENT_REVERSAL, "payment_id"),
}
