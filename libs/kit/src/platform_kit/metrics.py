"""Prometheus metrics shared by every service (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_OUT = Counter(
    "platform_events_published_total", "Events published by the outbox relay", ["service", "type"]
)
OUTBOX_BACKLOG = Gauge("platform_outbox_backlog", "Unpublished outbox rows", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "platform_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row", ["service"]
)
OUTBOX_PUBLISH_LATENCY = Histogram(
    "platform_outbox_commit_to_publish_seconds",
    "Time from the outbox row's insert to Kafka's acknowledgement",
    ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_IN = Counter(
    "platform_events_consumed_total",
    "Events consumed, by outcome: applied, duplicate (seen before), conflict (same natural key, "
    "other content), parked (waits for what it needs), dead_lettered",
    ["consumer", "type", "outcome"],
)
HANDLER_LATENCY = Histogram(
    "platform_consumer_batch_seconds", "Time to apply one consumed batch", ["consumer"]
)
BATCH_RECORDS = Histogram(
    "platform_consumer_batch_records",
    "Records in one consumed batch (a poll): small batches under a backlog cost throughput",
    ["consumer"],
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
# Lag here counts records, not offsets: it is the end offset minus the position, and the position
# steps over transaction markers. Tools that subtract the committed offset from the end offset
# (kafka-consumer-groups.sh, Burrow, kafka-lag-exporter) read 1 behind on a caught-up
# transactional partition: the commit marker of the last transaction takes an offset, and no
# consumer ever receives it, so nothing commits past it until the next record. Every topic here
# is written in transactions (the outbox relay), so "lag 1 forever" from such a tool is normal.
CONSUMER_LAG = Gauge(
    "platform_consumer_lag",
    "Records of the partition not processed yet (end offset minus the next offset to process; "
    "external tools that use the committed offset read 1 more on a transactional partition, "
    "the commit marker)",
    ["consumer", "topic", "partition"],
)
DEAD_LETTERS = Counter(
    "platform_dead_letters_total",
    "Messages sent to a dead-letter topic: by the consumer at once, or later through the outbox "
    "(counted when the relay has published them); `topic` is the source topic",
    ["consumer", "topic"],
)
