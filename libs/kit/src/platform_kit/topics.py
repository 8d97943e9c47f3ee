"""Create the registry's topics explicitly (never auto-created with one partition)."""

from __future__ import annotations

import argparse
import asyncio
import os

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from platform_events.topics import TOPICS


def desired_topics(prefix: str = "") -> list[NewTopic]:
    topics = []
    for spec in TOPICS:
        topics.append(
            NewTopic(prefix + spec.name, spec.partitions, 1, topic_configs=spec.kafka_config())
        )
        topics.append(
            NewTopic(
                prefix + spec.dlq, spec.partitions, 1, topic_configs={"cleanup.policy": "delete"}
            )
        )
    return topics


async def ensure_topics(bootstrap: str, topics: list[NewTopic] | None = None) -> list[str]:
    """Create the topics that are missing; returns the names created. Safe to run concurrently."""
    topics = topics if topics is not None else desired_topics()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if not missing:
            return []
        try:
            await admin.create_topics(missing)
        except TopicAlreadyExistsError:
            pass
        return [t.name for t in missing]
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Create the platform's Kafka topics")
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    )
    args = parser.parse_args()
    created = asyncio.run(ensure_topics(args.bootstrap))
    print(f"topics created: {', '.join(created) if created else 'none (all present)'}")


if __name__ == "__main__":
    main()
