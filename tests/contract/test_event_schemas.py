"""The committed JSON Schemas and AsyncAPI document are what consumers rely on."""

from __future__ import annotations

import copy
import json

import pytest
from pydantic import ValidationError

from platform_events import EVENT_TYPES, parse_event
from platform_events.compat import breaking_changes
from platform_events.contracts.billing import PaymentReceived
from platform_events.money import Money
from platform_events.schema_export import (
    ASYNCAPI_FILE,
    SCHEMA_DIR,
    committed_breaking_changes,
    event_schemas,
    stale_files,
)
from platform_events.topics import TOPICS, topic_for_event


def test_committed_schemas_are_up_to_date():
    assert stale_files() == [], "run: uv run python -m platform_events.schema_export"


def test_current_models_do_not_break_the_committed_schemas():
    assert committed_breaking_changes() == {}


def test_every_event_type_has_a_committed_schema_and_a_topic():
    for event_type in EVENT_TYPES:
        assert (SCHEMA_DIR / f"{event_type}.json").exists()
        assert topic_for_event(event_type).name
    asyncapi = json.loads(ASYNCAPI_FILE.read_text())
    assert set(asyncapi["channels"]) == {n for spec in TOPICS for n in (spec.name, spec.dlq)}


def test_every_event_type_is_versioned():
    for event_type in EVENT_TYPES:
        assert event_type.rsplit(".", 1)[-1].startswith("v"), event_type


SCHEMA = event_schemas()["billing.payment-received.v1"]


def test_removing_a_field_is_breaking():
    new = copy.deepcopy(SCHEMA)
    del new["properties"]["method"]
    assert any("method: field removed" in p for p in breaking_changes(SCHEMA, new))


def test_changing_a_field_type_is_breaking():
    new = copy.deepcopy(SCHEMA)
    new["properties"]["payment_id"] = {"type": "integer"}
    assert any("payment_id: type changed" in p for p in breaking_changes(SCHEMA, new))


def test_a_new_required_field_is_breaking():
    new = copy.deepcopy(SCHEMA)
    new["properties"]["channel"] = {"type": "string"}
    new["required"] = [*new["required"], "channel"]
    assert any("channel: new required field" in p for p in breaking_changes(SCHEMA, new))


def test_changing_a_nested_model_is_breaking():
    new = copy.deepcopy(SCHEMA)
    new["$defs"]["Money"]["properties"]["amount_minor"] = {"type": "number"}
    assert breaking_changes(SCHEMA, new) == ["$defs/Money.amount_minor: type changed"]


def test_a_new_optional_field_and_a_new_description_are_not_breaking():
    new = copy.deepcopy(SCHEMA)
    new["properties"]["channel"] = {"type": "string", "default": "web"}
    new["properties"]["method"]["description"] = "how the customer paid"
    assert breaking_changes(SCHEMA, new) == []


def test_the_currency_code_set_may_follow_iso_4217_but_may_not_leave_the_pattern():
    currency = SCHEMA["$defs"]["Money"]["properties"]["currency"]
    assert {"EUR", "USD", "JPY"} <= set(currency["enum"]) and "XYZ" not in currency["enum"]
    followed = copy.deepcopy(SCHEMA)
    followed["$defs"]["Money"]["properties"]["currency"]["enum"].append("ZZZ")
    assert breaking_changes(SCHEMA, followed) == []
    outside = copy.deepcopy(SCHEMA)
    outside["$defs"]["Money"]["properties"]["currency"]["enum"].append("euro")
    assert breaking_changes(SCHEMA, outside) == ["$defs/Money.currency: type changed"]


def test_every_currency_in_every_event_schema_is_an_iso_4217_code():
    found = []
    for event_type, model in EVENT_TYPES.items():
        schema = model.model_json_schema()
        for owner in [schema, *schema.get("$defs", {}).values()]:
            currency = owner.get("properties", {}).get("currency")
            if currency is None or event_type.startswith("qb."):
                continue
            options = currency.get("anyOf", [currency])
            codes = [o for o in options if o.get("type") == "string"]
            assert codes and all(set(o["enum"]) >= {"EUR", "USD"} for o in codes), event_type
            assert all("XYZ" not in o["enum"] for o in codes), event_type
            found.append(event_type)
    assert {
        "billing.balance-changed.v1",
        "billing.credit-limit-exceeded.v1",
        "billing.overdue-changed.v1",
        "billing.payment-received.v1",
        "customer.created.v1",
    } <= set(found)


def test_a_billing_fact_with_a_currency_that_is_not_iso_4217_is_refused():
    from platform_events.contracts.billing import BalanceChanged, OverdueChanged

    fields = dict.fromkeys(
        [
            "current_balance_minor",
            "total_invoiced_minor",
            "total_paid_minor",
            "total_refunded_minor",
            "total_credits_minor",
            "total_adjustments_minor",
        ],
        0,
    )
    BalanceChanged(customer_id="c", currency="EUR", caused_by_entry="e", **fields)
    with pytest.raises(ValidationError, match="ISO 4217"):
        BalanceChanged(customer_id="c", currency="XYZ", caused_by_entry="e", **fields)
    assert OverdueChanged(customer_id="c", overdue=True).currency is None
    with pytest.raises(ValidationError, match="ISO 4217"):
        OverdueChanged(customer_id="c", overdue=True, currency="ABC")


def test_the_gate_lets_a_plain_string_currency_become_an_iso_4217_code_and_nothing_else():
    code = {"type": "string", "pattern": "^[A-Z]{3}$", "enum": ["EUR", "USD"]}
    old = {"properties": {"currency": {"type": "string"}, "note": {"type": "string"}}}
    narrowed = copy.deepcopy(old)
    narrowed["properties"]["currency"] = code
    assert breaking_changes(old, narrowed) == []
    nullable = {"properties": {"currency": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}
    nullable_code = {"properties": {"currency": {"anyOf": [code, {"type": "null"}]}}}
    assert breaking_changes(nullable, nullable_code) == []
    # Only currencies, only to assigned codes, and never back to a plain string.
    other = copy.deepcopy(old)
    other["properties"]["note"] = code
    assert breaking_changes(old, other) == ["note: type changed"]
    invented = copy.deepcopy(narrowed)
    invented["properties"]["currency"]["enum"] = ["EUR", "ABC"]
    assert breaking_changes(old, invented) == ["currency: type changed"]
    assert breaking_changes(narrowed, old) == ["currency: type changed"]


def test_money_is_never_a_float():
    with pytest.raises(ValidationError):
        Money(amount_minor=10.5, currency="EUR")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Money.model_validate_json('{"amount_minor": 10.0, "currency": "EUR"}')
    with pytest.raises(ValidationError):
        Money(amount_minor=10, currency="euro")
    with pytest.raises(ValidationError, match="ISO 4217"):
        Money(amount_minor=10, currency="XYZ")
    assert Money(amount_minor=1050, currency="EUR").amount_minor == 1050


def test_a_consumer_ignores_fields_it_does_not_know():
    from platform_events import new_envelope

    envelope = new_envelope(
        PaymentReceived(
            customer_id="c1", payment_id="p1", amount=Money(amount_minor=500, currency="USD")
        ),
        source="payments",
        subject="c1",
        tenant_id="t1",
        sequence=1,
    )
    body = json.loads(envelope.model_dump_json())
    body["a_future_envelope_field"] = 1
    body["data"]["a_future_field"] = "x"
    parsed_envelope, data = parse_event(json.dumps(body))
    assert parsed_envelope.id == envelope.id
    assert isinstance(data, PaymentReceived) and data.amount.amount_minor == 500
