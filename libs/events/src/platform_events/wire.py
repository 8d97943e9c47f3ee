"""The Kafka record around an envelope: its headers, per the CloudEvents 1.0 Kafka protocol
binding in **binary content mode**.

Why binary mode: the `ce_type`/`ce_id`/`ce_source` headers that routers and today's readers use
are binary-mode headers already, and the CloudEvents SDKs pick the mode by the presence of any
`ce_` header, so structured mode would mean dropping them (breaking those readers). Binary mode
also lets a filter or a lag tool read every attribute without parsing the value.

Transition: the value stays exactly today's envelope (the event's data in CloudEvents terms, with
`datacontenttype` application/json), so readers of the body see no change; the headers gain
`ce_specversion`, `ce_time`, `ce_subject`, `ce_sequence` and the extensions `ce_tenantid`,
`ce_correlationid`, `ce_causationid` (extension names are lowercase letters and digits only). The
older `tenant_id` and `correlation_id` headers are still written for existing readers; they are
deprecated and listed in HEADERS so the contract gate keeps them until a documented removal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from platform_events.envelope import Envelope

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class Header:
    name: str
    description: str
    required: bool = True
    deprecated: bool = False
    schema: tuple[tuple[str, Any], ...] = ()

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "description": self.description}
        schema.update(dict(self.schema))
        if self.deprecated:
            schema["deprecated"] = True
        return schema


HEADERS: tuple[Header, ...] = (
    Header("ce_specversion", "CloudEvents spec version", schema=(("const", SPECVERSION),)),
    Header("ce_id", "Event id (envelope `id`), unique per fact", schema=(("format", "uuid"),)),
    Header("ce_source", "Producing service (envelope `source`)", schema=(("minLength", 1),)),
    Header("ce_type", "Versioned event type (envelope `type`)", schema=(("minLength", 1),)),
    Header("ce_time", "When the fact happened, RFC 3339", schema=(("format", "date-time"),)),
    Header("ce_subject", "Aggregate id (envelope `subject`), equal to the Kafka key"),
    Header(
        "ce_sequence", "Aggregate version (envelope `sequence`)", schema=(("pattern", "^[0-9]+$"),)
    ),
    Header(
        "ce_tenantid", "Extension: the tenant (envelope `tenant_id`)", schema=(("minLength", 1),)
    ),
    Header("ce_correlationid", "Extension: the request it came from", required=False),
    Header("ce_causationid", "Extension: the event that caused it", required=False),
    Header(
        "content-type",
        "The value's media type (CloudEvents `datacontenttype`)",
        schema=(("const", CONTENT_TYPE),),
    ),
    Header("tenant_id", "Deprecated: same as ce_tenantid", deprecated=True),
    Header(
        "correlation_id", "Deprecated: same as ce_correlationid", required=False, deprecated=True
    ),
)


def kafka_headers(envelope: Envelope) -> dict[str, str]:
    """Every attribute as a header, so consumers can route or skip without parsing the value."""
    headers = {
        "ce_specversion": SPECVERSION,
        "ce_id": str(envelope.id),
        "ce_source": envelope.source,
        "ce_type": envelope.type,
        "ce_time": envelope.time.isoformat().replace("+00:00", "Z"),
        "ce_subject": envelope.subject,
        "ce_sequence": str(envelope.sequence),
        "ce_tenantid": envelope.tenant_id,
        "content-type": CONTENT_TYPE,
        "tenant_id": envelope.tenant_id,
    }
    if envelope.correlation_id:
        headers["ce_correlationid"] = envelope.correlation_id
        headers["correlation_id"] = envelope.correlation_id
    if envelope.causation_id:
        headers["ce_causationid"] = envelope.causation_id
    return headers


def headers_schema(event_type: str | None = None) -> dict[str, Any]:
    """JSON Schema of the headers object (name -> UTF-8 string value) of one event type."""
    properties = {h.name: h.json_schema() for h in HEADERS}
    if event_type is not None:
        properties["ce_type"] = {**properties["ce_type"], "const": event_type}
    return {
        "type": "object",
        "properties": properties,
        "required": [h.name for h in HEADERS if h.required],
    }
