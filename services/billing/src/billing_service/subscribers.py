"""Billing's Kafka side, as FastStream declares it: the ledger consumer's batch subscribers on
`customer.events` and `billing.transactions` (topic names from the settings, so tests and
benchmarks run on their own). The kit's poll cycle handles each batch (docs/decisions/0001)."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from billing_service.handlers.apply_billing_events import ApplyBillingEvents
from billing_service.settings import Settings
from platform_kit.runtime import ServiceRuntime


def billing_subscribers(runtime: ServiceRuntime, settings: Settings) -> KafkaRouter:
    router = KafkaRouter()
    if not settings.run_consumers:
        return router
    topics = [settings.customer_topic, settings.transactions_topic]
    # Several members of one group in this process: while one waits for PostgreSQL, another runs
    # its Python work (bench/billing_ingest.py). Each member is a subscriber of its own (its own
    # aiokafka consumer; FastStream's `max_workers` does not apply to batch subscribers). Kafka
    # gives each member whole partitions, and one customer's events share a partition, so
    # members never touch one customer at once (the per-customer locks of store/locks.py make
    # that safe regardless).
    for _ in range(settings.consumer_members):
        handler = ApplyBillingEvents(staged=settings.staged_writes)
        ledger = runtime.consumer(settings.consumer_name, topics, handler)
        ledger.attach(router.subscriber(*topics, **ledger.subscriber_options()))
    return router
