"""The FastStream broker that hosts a consumer (docs/decisions/0001). Its own module: the outbox
relay runs as a small process of its own and should not pay for importing FastStream."""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker


def kafka_broker(bootstrap: str, client_id: str) -> KafkaBroker:
    """The FastStream broker that hosts a consumer: topics are never auto-created (the registry
    creates them, platform_kit.topics), per-message logs stay at DEBUG, and stopping waits for
    the batch in flight (which cuts itself short) instead of cancelling it."""
    return KafkaBroker(
        bootstrap,
        client_id=client_id,
        allow_auto_create_topics=False,
        log_level=logging.DEBUG,
        graceful_timeout=30.0,
    )
