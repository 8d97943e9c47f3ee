"""Each service's Kafka side is a FastStream application: its subscribers, declared in its
subscribers.py, are what the kit's guarantees need (docs/decisions/0001). Nothing is started."""

from __future__ import annotations

from typing import Any

from faststream import AckPolicy

from billing_service.app import create_app as billing_app
from billing_service.settings import Settings as BillingSettings
from customer_service.app import create_app as customer_app
from customer_service.settings import Settings as CustomerSettings
from qb_sync.app import create_app as qb_sync_app


def _declared(app: Any) -> list[tuple[str, list[str]]]:
    runtime = app.state.runtime
    found = []
    for subscriber in runtime.broker.subscribers:
        args = subscriber._connection_args
        assert subscriber.ack_policy is AckPolicy.MANUAL
        assert args["isolation_level"] == "read_committed"
        assert args["enable_auto_commit"] is False
        assert args["auto_offset_reset"] == "earliest"
        found.append((subscriber.group_id, sorted(t.name for t in subscriber.topics)))
    # Every member the runtime hosts is one of these subscribers, handled by the kit's cycle.
    assert sorted(m.subscriber is not None for m in runtime.consumers) == [True] * len(found)
    assert {id(m.subscriber) for m in runtime.consumers} == {
        id(s) for s in runtime.broker.subscribers
    }
    return sorted(found)


def test_billing_declares_one_subscriber_per_group_member_on_both_input_topics() -> None:
    settings = BillingSettings(consumer_members=3, consumer_name="ledger")
    topics = sorted([settings.customer_topic, settings.transactions_topic])
    assert _declared(billing_app(settings)) == [("ledger", topics)] * 3
    assert _declared(billing_app(BillingSettings(run_consumers=False))) == []


def test_customer_and_qb_sync_declare_their_consumer_groups() -> None:
    assert _declared(customer_app(CustomerSettings())) == [
        ("customer", ["billing.balances", "qb.customers", "qb.sync"])
    ]
    assert _declared(customer_app(CustomerSettings(run_consumers=False))) == []
    assert _declared(qb_sync_app()) == [
        ("qb-sync", ["customer.events"]),
        ("qb-sync-webhooks", ["qb.webhooks"]),
    ]


def test_the_broker_never_creates_a_topic() -> None:
    runtime = billing_app(BillingSettings()).state.runtime
    assert runtime.broker.config.broker_config.allow_auto_create_topics is False
