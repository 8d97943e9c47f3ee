"""The FastStream broker and application that host a service's consumers (docs/decisions/0001).
Its own module: the outbox relay runs as a small process of its own and should not pay for
importing FastStream."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber.usecase import BatchSubscriber

# What `KafkaRouter.subscriber(..., batch=True)` declares: one consumer group member.
KafkaSubscriber = BatchSubscriber


class HostedMember(Protocol):
    """A consumer group member's part in its application's lifecycle (platform_kit.consumer)."""

    async def opening(self) -> None: ...

    async def opened(self) -> None: ...

    async def closing(self) -> None: ...

    async def closed(self) -> None: ...


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


def hosting_app(broker: KafkaBroker, members: Sequence[HostedMember]) -> FastStream:
    """The FastStream application whose start/stop drive `broker` and the members declared on
    it (read when it starts, so members may be declared after this is built): each member
    opens (its dead-letter producer) before the broker starts, learns its aiokafka consumer
    after, is told to cut its batch short before the broker stops (which waits for that batch),
    and lets go of what it holds after. Every hook is a coroutine: FastStream runs a plain
    function in a worker thread."""

    async def opening() -> None:
        for member in members:
            await member.opening()

    async def opened() -> None:
        for member in members:
            await member.opened()

    async def closing() -> None:
        for member in members:
            await member.closing()

    async def closed() -> None:
        for member in members:
            await member.closed()

    return FastStream(
        broker,
        logger=None,
        on_startup=[opening],
        after_startup=[opened],
        on_shutdown=[closing],
        after_shutdown=[closed],
    )
