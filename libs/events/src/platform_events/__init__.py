"""Versioned event contracts shared by every service and every consumer of the platform's topics."""

from platform_events.envelope import Envelope, EventData, new_envelope
from platform_events.registry import EVENT_TYPES, UnknownEventType, data_model_for, parse_event

__all__ = [
    "EVENT_TYPES",
    "Envelope",
    "EventData",
    "UnknownEventType",
    "data_model_for",
    "new_envelope",
    "parse_event",
]
