"""Wrapping event data in the platform envelope: subject = customer id, sequence = its version."""

from __future__ import annotations

from platform_events import Envelope, EventData, new_envelope
from platform_kit.logs import correlation_id_var

SOURCE = "customer"


def customer_envelope(
    data: EventData, *, tenant_id: str, subject: str, version: int, causation_id: str | None = None
) -> Envelope:
    return new_envelope(
        data,
        source=SOURCE,
        subject=subject,
        tenant_id=tenant_id,
        sequence=version,
        correlation_id=correlation_id_var.get(),
        causation_id=causation_id,
    )
