"""The topics as outside tools read them: one event per topic, written the way services write
(outbox -> relay, a Kafka transaction), read back raw, then

- parsed by the official CloudEvents SDK (Kafka protocol binding), every attribute present;
- validated against the AsyncAPI document's own schemas: headers, key, and the value.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import jsonschema
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka
from cloudevents.core.formats.json import JSONFormat
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from billing_service.domain.facts import fact_from_event
from billing_service.domain.rules import CustomerFacts, rejection_reason
from platform_events import Envelope, EventData, new_envelope, parse_event
from platform_events.asyncapi import asyncapi_document
from platform_events.contracts import billing, customer, quickbooks
from platform_events.envelope import caused_by
from platform_events.topics import TOPICS, topic_for_event
from platform_kit.kafka import decode_headers, encode_headers
from platform_kit.outbox import OutgoingEvent, add_to_outbox, kafka_headers
from platform_kit.relay import OutboxRelay
from platform_kit.topics import ensure_topics
from tests.billing.support import TopicTail, snapshot
from tests.integration.test_inbox_consumer import (  # noqa: F401
    counts_table,
    make_runner,
    run_until,
    voided,
)
from tests.support.kafka_io import publish_raw, read_all

pytestmark = pytest.mark.integration
DOC_URI = "urn:platform:asyncapi"


def one_event_per_topic(tenant: str) -> list[tuple[EventData, str]]:
    usd = {"amount_minor": 1250, "currency": "USD"}
    return [
        (customer.CustomerCreated(customer=snapshot("w-1")), "w-1"),
        (billing.PaymentReceived(customer_id="w-1", payment_id="p-1", amount=usd), "w-1"),  # type: ignore[arg-type]
        (
            billing.BalanceChanged(
                customer_id="w-1",
                currency="USD",
                current_balance_minor=-1250,
                total_invoiced_minor=0,
                total_paid_minor=1250,
                total_refunded_minor=0,
                total_credits_minor=0,
                total_adjustments_minor=0,
                caused_by_entry=str(uuid.uuid4()),
            ),
            "w-1",
        ),
        (
            quickbooks.QuickBooksCustomerMirrored(
                realm_id="r1", qb_customer_id="58", sync_token=0, display_name="W One"
            ),
            "r1:58",
        ),
        (
            quickbooks.QuickBooksCustomerLinked(
                realm_id="r1", customer_id="w-1", qb_customer_id="58", sync_token=0, how="created"
            ),
            "w-1",
        ),
        (
            quickbooks.QuickBooksWebhookReceived(
                realm_id="r1", entity="Customer", entity_id="58", operation="Update"
            ),
            "r1:58",
        ),
    ]


def strict_validator(document: dict[str, Any], pointer: str) -> jsonschema.Draft202012Validator:
    """A validator of one part of the document, resolving its references inside the document.
    Integers are JSON integers only: 100.0 is not one (the consumers' pydantic models are
    strict), although JSON Schema's own data model does not tell 100.0 from 100."""
    registry = Registry().with_resource(
        DOC_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    checker = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    )
    strict = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=checker)
    return strict({"$ref": f"{DOC_URI}#{pointer}"}, registry=registry)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document()


async def test_every_topic_reads_as_cloudevents_and_validates_against_the_asyncapi_document(
    kafka_bootstrap, database_url, kit_schema, kit_pool, document
):
    await ensure_topics(kafka_bootstrap)
    tenant = f"wire-{uuid.uuid4().hex[:8]}"
    cause = uuid.uuid4()
    envelopes: list[Envelope] = []
    with caused_by(cause):
        for data, subject in one_event_per_topic(tenant):
            envelopes.append(
                new_envelope(
                    data,
                    source="wire-test",
                    subject=subject,
                    tenant_id=tenant,
                    sequence=3,
                    correlation_id="corr-wire",
                )
            )
    assert {topic_for_event(e.type).name for e in envelopes} == {t.name for t in TOPICS}
    tails = {t.name: TopicTail(kafka_bootstrap, t.name) for t in TOPICS}
    for tail in tails.values():
        await tail.start()
    relay = OutboxRelay(dsn=database_url, schema=kit_schema, bootstrap=kafka_bootstrap, service="w")
    try:
        async with kit_pool.acquire() as conn, conn.transaction():
            await add_to_outbox(
                conn,
                [OutgoingEvent(e, topic_for_event(e.type).name, e.subject) for e in envelopes],
            )
        relay.start()
        records = {}
        for e in envelopes:
            tail = tails[topic_for_event(e.type).name]
            [records[e.id]] = await tail.collect(
                lambda r, e=e: (
                    (r.key or b"") == e.subject.encode()
                    and ("ce_id", str(e.id).encode()) in [(k, bytes(v)) for k, v in r.headers]
                ),
                1,
            )
    finally:
        await relay.stop()
        for tail in tails.values():
            await tail.stop()

    for e in envelopes:
        record = records[e.id]
        headers = {k: bytes(v) for k, v in record.headers}
        event = from_kafka(
            KafkaMessage(headers=headers, key=record.key, value=record.value), JSONFormat()
        )
        assert event.get_specversion() == "1.0"
        assert event.get_id() == str(e.id)
        assert event.get_source() == "wire-test"
        assert event.get_type() == e.type
        assert event.get_time() == e.time
        assert event.get_subject() == e.subject
        assert event.get_datacontenttype() == "application/json"
        assert event.get_extension("tenantid") == tenant
        assert event.get_extension("correlationid") == "corr-wire"
        assert event.get_extension("causationid") == str(cause)
        assert event.get_extension("sequence") == "3"
        assert event.get_extension("partitionkey") == e.subject
        assert event.get_data() == json.loads(record.value)  # the envelope, unchanged

        message = f"/components/messages/{e.type}"
        decoded = {k: v.decode() for k, v in headers.items()}
        strict_validator(document, f"{message}/headers").validate(decoded)
        strict_validator(document, f"{message}/bindings/kafka/key").validate(record.key.decode())
        strict_validator(document, f"{message}/payload").validate(json.loads(record.value))
        channel = document["channels"][record.topic]
        assert e.type in channel["messages"]
        partitions = channel["bindings"]["kafka"]["partitions"]
        assert record.partition < partitions


def test_the_document_refuses_what_consumers_refuse(document):
    payment = new_envelope(
        billing.PaymentReceived(
            customer_id="c",
            payment_id="p",
            amount={"amount_minor": 100, "currency": "USD"},  # type: ignore[arg-type]
        ),
        source="t",
        subject="c",
        tenant_id="t1",
        sequence=1,
    )
    body = json.loads(payment.model_dump_json())
    payload = strict_validator(document, "/components/messages/billing.payment-received.v1/payload")
    payload.validate(body)
    for field, bad in [
        ("amount_minor", 100.0),
        ("currency", "usd"),
        ("currency", "DOLLARS"),
        ("currency", "XYZ"),  # three letters, but not an ISO 4217 code
    ]:
        wrong = json.loads(json.dumps(body))
        wrong["data"]["amount"][field] = bad
        with pytest.raises(jsonschema.ValidationError):
            payload.validate(wrong)
        with pytest.raises(ValueError):  # pydantic's ValidationError is a ValueError
            parse_event(json.dumps(wrong))
    for amount in (0, -100):  # the model reads them; billing's rules refuse them
        wrong = json.loads(json.dumps(body))
        wrong["data"]["amount"]["amount_minor"] = amount
        with pytest.raises(jsonschema.ValidationError, match="less than or equal to the minimum"):
            payload.validate(wrong)
        _, data = parse_event(json.dumps(wrong))
        fact = fact_from_event(
            data, event_id=payment.id, tenant_id="t1", occurred_at=payment.time, correlation_id=None
        )
        customer = CustomerFacts(tenant_id="t1", customer_id="c", currency="USD", active=True)
        assert rejection_reason(fact, customer) == f"payment amount must be positive, got {amount}"
    headers = strict_validator(document, "/components/messages/billing.payment-received.v1/headers")
    with pytest.raises(jsonschema.ValidationError, match="ce_specversion"):
        headers.validate({"ce_type": "billing.payment-received.v1", "ce_id": str(payment.id)})


async def test_a_dead_letter_validates_against_the_documents_dead_letter_message(
    counts_table,  # noqa: F811
    kafka_bootstrap,
    test_topic,
    document,
):
    """A real dead letter, read from a `.dlq` topic: its headers (the original ones plus why)
    and key are what the document's dead-letter message declares."""
    poison = voided("dora", "poison")
    envelope = Envelope.model_validate_json(poison)
    await publish_raw(
        kafka_bootstrap, test_topic, [poison], headers=encode_headers(kafka_headers(envelope))
    )
    await publish_raw(kafka_bootstrap, test_topic, [voided("dora", "inv-ok")])
    runner = make_runner(counts_table, kafka_bootstrap, test_topic)

    async def dora_seen() -> bool:
        return await counts_table.fetchval("SELECT n FROM counts WHERE customer_id='dora'") == 1

    await run_until(runner, dora_seen)
    [dead] = await read_all(kafka_bootstrap, f"{test_topic}.dlq", expected=1)
    headers = decode_headers(dead.headers)
    assert headers["ce_id"] == str(envelope.id) and "\n" not in headers["dlq-reason"]
    message = "/components/messages/billing.transactions.dead-letter"
    strict_validator(document, f"{message}/headers").validate(headers)
    strict_validator(document, f"{message}/bindings/kafka/key").validate(dead.key.decode())
    assert dead.value == poison  # the payload: the original bytes
