"""The customer service's Kafka side, as FastStream declares it: one consumer group on the
QuickBooks directory, link outcomes and billing flags. The kit's poll cycle handles each batch
(docs/decisions/0001)."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from customer_service.handlers.inbound import InboundEvents
from platform_events.topics import BILLING_BALANCES, QB_CUSTOMERS, QB_SYNC
from platform_kit.runtime import ServiceRuntime

CONSUMER = "customer"


def customer_subscribers(runtime: ServiceRuntime) -> KafkaRouter:
    router = KafkaRouter()
    topics = [QB_CUSTOMERS.name, QB_SYNC.name, BILLING_BALANCES.name]
    inbound = runtime.consumer(CONSUMER, topics, InboundEvents())
    inbound.attach(router.subscriber(*topics, **inbound.subscriber_options()))
    return router
