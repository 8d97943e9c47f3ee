"""The AsyncAPI 3.0 document: the topics exactly as they are on the wire.

- a message's `payload` is the whole envelope (what the Kafka value holds), its `data` the event
  type's own schema; `headers` lists every header the producers write (wire.py), required ones
  required; the key is a Kafka message binding;
- every topic is a channel with its partitions and cleanup policy (topics.py), and so is its
  dead-letter topic, whose messages carry the original headers plus the `dlq-*` ones;
- operations: what each service sends and receives.

Schemas live under components/schemas with document-local references, so one JSON Schema
validator can check a real record against the document itself (tests/integration/test_wire.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from platform_events.envelope import Envelope
from platform_events.registry import EVENT_TYPES
from platform_events.topics import TOPICS, TopicSpec
from platform_events.wire import HEADERS, headers_schema

REF = "#/components/schemas/{model}"
BINDING_VERSION = "0.5.0"
DEAD_LETTER_HEADERS: dict[str, str] = {
    "dlq-reason": "Why, on one line",
    "dlq-detail": "The full error text (may span lines)",
    "dlq-error-type": "The error's class, e.g. UndecodableMessage, PermanentError",
    "dlq-attempts": "Attempts made before giving up",
    "dlq-consumer": "The consumer (group) that gave up",
    "dlq-source-topic": "Where the record was read",
    "dlq-source-partition": "Its partition there",
    "dlq-source-offset": "Its offset there",
    "dlq-time": "When it was dead-lettered, epoch milliseconds",
}


# What the consumers refuse beyond the event models (billing's rules, domain/rules.py): said in
# the document too, so a message it accepts is never refused. The models stay as published.
POSITIVE_AMOUNT = {
    "properties": {
        "amount": {
            "properties": {
                "amount_minor": {
                    "exclusiveMinimum": 0,
                    "description": "Billing refuses zero and negative amounts for this type",
                }
            }
        }
    }
}
CONSUMER_RULES: dict[str, dict[str, Any]] = {
    "billing.invoice-issued.v1": POSITIVE_AMOUNT,
    "billing.payment-received.v1": POSITIVE_AMOUNT,
    "billing.refund-issued.v1": POSITIVE_AMOUNT,
    "billing.credit-applied.v1": POSITIVE_AMOUNT,
}


def _schemas() -> tuple[dict[str, Any], dict[type[BaseModel], str]]:
    models: list[type[BaseModel]] = [Envelope, *EVENT_TYPES.values()]
    keys, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    names = {model: keys[(model, "validation")]["$ref"].rsplit("/", 1)[-1] for model in models}
    return top["$defs"], names


def _key_binding(spec: TopicSpec) -> dict[str, Any]:
    return {
        "kafka": {
            "key": {
                "type": "string",
                "minLength": 1,
                "description": f"{spec.key}: the envelope's subject. Partition = murmur2(key) "
                "modulo partitions, as Kafka's default partitioner does",
            },
            "bindingVersion": BINDING_VERSION,
        }
    }


def _channel_binding(spec: TopicSpec, *, dead_letters: bool = False) -> dict[str, Any]:
    config = {"cleanup.policy": "delete"} if dead_letters else spec.kafka_config()
    topic_config: dict[str, Any] = {"cleanup.policy": [config["cleanup.policy"]]}
    return {
        "kafka": {
            "topic": spec.dlq if dead_letters else spec.name,
            "partitions": spec.partitions,
            "replicas": 1,
            "topicConfiguration": topic_config,
            "bindingVersion": BINDING_VERSION,
        }
    }


def _message(spec: TopicSpec, event_type: str, model_name: str) -> dict[str, Any]:
    return {
        "name": event_type,
        "title": event_type,
        "contentType": "application/json",
        "headers": headers_schema(event_type),
        "payload": {
            "allOf": [{"$ref": REF.format(model="Envelope")}],
            "properties": {
                "type": {"const": event_type},
                "data": {
                    "allOf": [
                        {"$ref": REF.format(model=model_name)},
                        *([CONSUMER_RULES[event_type]] if event_type in CONSUMER_RULES else []),
                    ]
                },
            },
        },
        "bindings": _key_binding(spec),
    }


def _dead_letter_message(spec: TopicSpec) -> dict[str, Any]:
    headers = headers_schema()
    headers["properties"].update(
        {name: {"type": "string", "description": d} for name, d in DEAD_LETTER_HEADERS.items()}
    )
    # A dead letter keeps whatever the original had: it may lack any producer header.
    headers["required"] = [n for n in DEAD_LETTER_HEADERS if n != "dlq-detail"]
    return {
        "name": f"{spec.name}.dead-letter",
        "title": f"Dead letter of {spec.name}",
        "contentType": "application/octet-stream",
        "summary": "The original record's bytes, key and headers, plus why it was refused",
        "headers": headers,
        "payload": {"description": "The original value, unchanged (possibly not JSON at all)"},
        "bindings": _key_binding(spec),
    }


def asyncapi_document() -> dict[str, Any]:
    schemas, names = _schemas()
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for spec in TOPICS:
        channel_messages = {}
        for model in spec.event_types:
            messages[model.event_type] = _message(spec, model.event_type, names[model])
            channel_messages[model.event_type] = {
                "$ref": f"#/components/messages/{model.event_type}"
            }
        channels[spec.name] = {
            "address": spec.name,
            "description": f"{spec.description} Key: {spec.key}.",
            "messages": channel_messages,
            "bindings": _channel_binding(spec),
        }
        dead = f"{spec.name}.dead-letter"
        messages[dead] = _dead_letter_message(spec)
        channels[spec.dlq] = {
            "address": spec.dlq,
            "description": f"Records of {spec.name} its consumers could never process.",
            "messages": {dead: {"$ref": f"#/components/messages/{dead}"}},
            "bindings": _channel_binding(spec, dead_letters=True),
        }
        for service in spec.producers:
            operations[f"{service}.send.{spec.name}"] = _operation("send", spec.name, service)
        for service in spec.consumers:
            operations[f"{service}.receive.{spec.name}"] = _operation("receive", spec.name, service)
            operations[f"{service}.send.{spec.dlq}"] = _operation("send", spec.dlq, service)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Customer platform events",
            "version": "2.0.0",
            "description": "Every record's value is the JSON envelope (Envelope) around the "
            "event's data; every attribute is also a header per the CloudEvents 1.0 Kafka "
            "protocol binding, binary content mode; the key is the aggregate id. Consumers read "
            "committed records only (the producers write in Kafka transactions).",
        },
        "servers": {
            "local": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "The local stack's broker (deploy/local/stack.py)",
            }
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _operation(action: str, channel: str, service: str) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{_escape(channel)}"},
        "summary": f"{service} {'publishes to' if action == 'send' else 'consumes'} {channel}",
        "tags": [{"name": service}],
    }


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


HEADER_NAMES = tuple(h.name for h in HEADERS)
