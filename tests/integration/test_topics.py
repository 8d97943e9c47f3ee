"""ensure_topics against the real broker: creates what is missing, refuses a topic whose partition
count differs from the registry, and sets a drifted cleanup policy right."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from platform_kit.topics import TopicMismatch, desired_topics, ensure_topics

pytestmark = pytest.mark.integration


async def create(bootstrap: str, topic: NewTopic) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([topic])
    finally:
        await admin.close()


async def cleanup_policy(bootstrap: str, name: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, configs={"cleanup.policy": None})]
        )
        [resource] = response.to_object()["resources"]
        return str(resource["config_entries"][0]["config_value"])
    finally:
        await admin.close()


def registry_like(name: str, partitions: int = 6, policy: str = "delete") -> NewTopic:
    return NewTopic(name, partitions, 1, topic_configs={"cleanup.policy": policy})


async def test_the_registry_topics_are_created_with_their_partitions_and_policies(kafka_bootstrap):
    prefix = f"t{uuid.uuid4().hex[:6]}."
    wanted = desired_topics(prefix)
    created = await ensure_topics(kafka_bootstrap, wanted)
    assert sorted(created) == sorted(t.name for t in wanted)
    assert await ensure_topics(kafka_bootstrap, wanted) == []  # second run: all present, all right
    assert await cleanup_policy(kafka_bootstrap, f"{prefix}qb.customers") == "compact"
    assert await cleanup_policy(kafka_bootstrap, f"{prefix}customer.events") == "delete"


async def test_an_existing_topic_with_the_wrong_partition_count_fails_loudly(kafka_bootstrap):
    name = f"test.{uuid.uuid4().hex[:10]}"
    await create(kafka_bootstrap, registry_like(name, partitions=2))
    with pytest.raises(TopicMismatch, match=f"{name} has 2 partitions but the registry says 6"):
        await ensure_topics(kafka_bootstrap, [registry_like(name, partitions=6)])


async def test_an_existing_topic_with_the_wrong_cleanup_policy_is_set_right(kafka_bootstrap):
    name = f"test.{uuid.uuid4().hex[:10]}"
    await create(kafka_bootstrap, registry_like(name, policy="delete"))
    assert await ensure_topics(kafka_bootstrap, [registry_like(name, policy="compact")]) == []
    assert await cleanup_policy(kafka_bootstrap, name) == "compact"
