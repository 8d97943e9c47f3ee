"""The common envelope every event travels in, modelled on CloudEvents (DESIGN.md section 2)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from platform_events.text import first_text_problem

BIGINT_MAX = 2**63 - 1
# Validation context: the JSON text was checked for escapes (Envelope._storable).
TEXT_SAFE: dict[str, bool] = {"text_checked": True}


class EventData(BaseModel):
    """Base of every event payload. `event_type` is the versioned type name on the wire."""

    # Unknown fields are ignored so that an additive change to a producer never breaks a consumer.
    model_config = ConfigDict(extra="ignore", frozen=True)
    event_type: ClassVar[str]


class Envelope(BaseModel):
    """CloudEvents-like envelope. `id` is minted once when the fact is recorded, never on resend."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: str = "1.0"
    id: uuid.UUID
    type: str = Field(min_length=1)
    source: str = Field(min_length=1)
    time: datetime
    subject: str = Field(min_length=1, description="Aggregate id; also the Kafka key.")
    tenant_id: str = Field(min_length=1)
    correlation_id: str | None = None
    causation_id: str | None = None
    sequence: int = Field(
        ge=0, description="Aggregate version, so consumers can drop stale updates."
    )
    data: dict[str, Any]

    @model_validator(mode="after")
    def _storable(self, info: ValidationInfo) -> Envelope:
        """What a consumer would store must fit PostgreSQL: text without NUL or lone surrogates
        (anywhere in the envelope or its data), a time that exists in UTC, a bigint sequence.
        An event that fails is a schema violation: dead-lettered with the reason, at once.

        The walk over every string is skipped when the caller has seen that the JSON bytes hold
        no `\\u` escape (context TEXT_SAFE, registry.parse_event): valid UTF-8 JSON can carry a
        NUL or a lone surrogate only as such an escape (the parser refuses them raw)."""
        if info.context is TEXT_SAFE:
            found = None
        else:
            found = first_text_problem(
                {
                    "type": self.type,
                    "source": self.source,
                    "subject": self.subject,
                    "tenant_id": self.tenant_id,
                    "correlation_id": self.correlation_id or "",
                    "causation_id": self.causation_id or "",
                    "data": self.data,
                }
            )
        if found:
            raise ValueError(f"{found[0]} {found[1]}")
        try:
            self.time.astimezone(UTC)
        except OverflowError:
            raise ValueError("time lies outside the years 1-9999 once taken to UTC") from None
        if self.sequence > BIGINT_MAX:
            raise ValueError(f"sequence exceeds {BIGINT_MAX}")
        return self


# The id of the event being handled, while a consumer handles it: what new envelopes name as
# their cause unless the producer says otherwise.
_cause: ContextVar[str | None] = ContextVar("causation_id", default=None)


@contextmanager
def caused_by(event_id: uuid.UUID | str | None) -> Iterator[None]:
    """Events enveloped inside this block name `event_id` as their causation_id."""
    token = _cause.set(str(event_id) if event_id is not None else None)
    try:
        yield
    finally:
        _cause.reset(token)


def new_envelope(
    data: EventData,
    *,
    source: str,
    subject: str,
    tenant_id: str,
    sequence: int,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    event_id: uuid.UUID | None = None,
    time: datetime | None = None,
) -> Envelope:
    return Envelope(
        id=event_id or uuid.uuid4(),
        type=data.event_type,
        source=source,
        time=time or datetime.now(UTC),
        subject=subject,
        tenant_id=tenant_id,
        correlation_id=correlation_id,
        causation_id=causation_id or _cause.get(),
        sequence=sequence,
        data=data.model_dump(mode="json"),
    )
