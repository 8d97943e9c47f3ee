"""Create the registry's topics explicitly (never auto-created with one partition), and check the
ones that exist: a wrong partition count fails loudly (changing it would move keys to other
partitions and break their order), a wrong cleanup policy or other registry config is set right.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from platform_events.topics import TOPICS

log = logging.getLogger(__name__)


class TopicMismatch(RuntimeError):
    """An existing topic differs from the registry in a way that cannot be fixed in place."""


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
    """Create the topics that are missing and check those that exist; returns the names created.
    Raises TopicMismatch for an existing topic with the wrong partition count. Safe to run
    concurrently."""
    topics = topics if topics is not None else desired_topics()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        listed = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in listed]
        created = await _create(admin, missing) if missing else set()
        await _check_existing(admin, [t for t in topics if t.name not in created])
        return [t.name for t in missing if t.name in created]
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, topics: list[NewTopic]) -> set[str]:
    """Names created now; one that already exists (made meanwhile, or not listed yet) is not."""
    response = await admin.create_topics(topics)
    created = set()
    for result in response.to_object()["topic_errors"]:
        if result["error_code"] == 0:
            created.add(result["topic"])
        elif result["error_code"] != TopicAlreadyExistsError.errno:
            raise TopicMismatch(f"could not create {result['topic']}: {result['error_message']}")
    return created


async def _check_existing(admin: AIOKafkaAdminClient, topics: list[NewTopic]) -> None:
    if not topics:
        return
    counts = await _partition_counts(admin, [t.name for t in topics])
    wrong = [
        f"topic {t.name} has {counts[t.name]} partitions but the registry says "
        f"{t.num_partitions}; changing it would move keys between partitions and break their "
        "order, so recreate the topic (or fix the registry)"
        for t in topics
        if counts[t.name] != t.num_partitions
    ]
    if wrong:
        raise TopicMismatch("\n".join(wrong))
    current = await _configs(admin, topics)
    drifted = [
        t for t in topics if any(current[t.name].get(k) != v for k, v in t.topic_configs.items())
    ]
    if not drifted:
        return
    for t in drifted:
        log.warning(
            "topic %s: config %s differs from the registry's %s; setting it",
            t.name,
            {k: current[t.name].get(k) for k in t.topic_configs},
            t.topic_configs,
        )
    # AlterConfigs replaces the topic's overrides with exactly the registry's.
    await admin.alter_configs(
        [
            ConfigResource(ConfigResourceType.TOPIC, t.name, configs=dict(t.topic_configs))
            for t in drifted
        ]
    )
    for _ in range(40):  # the broker applies a config change a moment after accepting it
        after = await _configs(admin, drifted)
        still = [
            t.name
            for t in drifted
            if any(after[t.name].get(k) != v for k, v in t.topic_configs.items())
        ]
        if not still:
            return
        await asyncio.sleep(0.25)
    raise TopicMismatch(f"could not set the registry's config on {', '.join(still)}")


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    for _ in range(20):  # a topic another instance just created may not be described yet
        described = await admin.describe_topics(names)
        if all(d["error_code"] == 0 and d["partitions"] for d in described):
            return {d["topic"]: len(d["partitions"]) for d in described}
        await asyncio.sleep(0.25)
    raise TopicMismatch(f"could not describe topics {names}: {described}")


async def _configs(admin: AIOKafkaAdminClient, topics: list[NewTopic]) -> dict[str, dict[str, Any]]:
    responses = await admin.describe_configs(
        [
            ConfigResource(ConfigResourceType.TOPIC, t.name, configs=dict.fromkeys(t.topic_configs))
            for t in topics
        ]
    )
    found: dict[str, dict[str, Any]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            found[resource["resource_name"]] = {
                e["config_names"]: e["config_value"] for e in resource["config_entries"]
            }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description="Create the platform's Kafka topics")
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    )
    args = parser.parse_args()
    try:
        created = asyncio.run(ensure_topics(args.bootstrap))
    except TopicMismatch as exc:
        raise SystemExit(f"topics do not match the registry:\n{exc}") from None
    print(f"topics created: {', '.join(created) if created else 'none (all present)'}")


if __name__ == "__main__":
    main()
