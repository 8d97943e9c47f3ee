"""qb-sync's Kafka side, as FastStream declares it: the push side's consumer of
`customer.events` and the pull side's consumer of `qb.webhooks`, each its own group. The kit's
poll cycle handles each batch (docs/decisions/0001)."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from platform_events.topics import CUSTOMER_EVENTS, QB_WEBHOOKS
from platform_kit.runtime import ServiceRuntime
from qb_sync.runners.customer_events import CustomerEvents
from qb_sync.runners.pull_side import WEBHOOK_CONSUMER
from qb_sync.runners.push_side import CONSUMER
from qb_sync.runners.webhook_events import WebhookEvents


def qb_sync_subscribers(runtime: ServiceRuntime) -> KafkaRouter:
    router = KafkaRouter()
    webhooks = runtime.consumer(WEBHOOK_CONSUMER, [QB_WEBHOOKS.name], WebhookEvents())
    webhooks.attach(router.subscriber(QB_WEBHOOKS.name, **webhooks.subscriber_options()))
    customers = runtime.consumer(CONSUMER, [CUSTOMER_EVENTS.name], CustomerEvents())
    customers.attach(router.subscriber(CUSTOMER_EVENTS.name, **customers.subscriber_options()))
    return router
