"""Reading only what a test produced: remember the topic's end offsets, then read from there."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


class TopicTail:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.consumer: AIOKafkaConsumer | None = None
        self.start_offsets: dict[TopicPartition, int] = {}

    async def __aenter__(self) -> TopicTail:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id=f"tail-{uuid.uuid4().hex[:6]}",
        )
        await self.consumer.start()
        metadata = await self.consumer._client.fetch_all_metadata()
        partitions = metadata.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        self.start_offsets = await self.consumer.end_offsets(tps)
        for tp, offset in self.start_offsets.items():
            self.consumer.seek(tp, offset)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.consumer is not None
        await self.consumer.stop()

    async def collect(
        self, keep: Callable[[Any], bool], expected: int, timeout: float = 30
    ) -> list[Any]:
        """Records since entering that `keep` accepts, until `expected` of them or the timeout."""
        assert self.consumer is not None
        found: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(found) < expected and time.monotonic() < deadline:
            batch = await self.consumer.getmany(timeout_ms=300, max_records=5000)
            for records in batch.values():
                found += [r for r in records if keep(r)]
        return found
