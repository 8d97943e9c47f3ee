"""Event type name -> payload model, and the one function consumers use to read a message."""

from __future__ import annotations

from platform_events.envelope import TEXT_SAFE, Envelope, EventData
from platform_events.topics import TOPICS

# Derived from the topic registry, the one place that says which types exist and where they go.
_ALL: tuple[type[EventData], ...] = tuple(
    dict.fromkeys(model for spec in TOPICS for model in spec.event_types)
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
    # Bytes without a `\\u` escape cannot hold unstorable text: spare the envelope that walk.
    safe = isinstance(raw, bytes) and b"\\u" not in raw
    envelope = Envelope.model_validate_json(raw, context=TEXT_SAFE if safe else None)
    data = data_model_for(envelope.type).model_validate(envelope.data)
    return envelope, data
