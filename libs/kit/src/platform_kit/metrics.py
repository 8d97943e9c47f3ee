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
    "Events consumed, by outcome (applied, duplicate, dead_lettered)",
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
CONSUMER_LAG = Gauge(
    "platform_consumer_lag",
    "Records of the partition not processed yet (end offset minus the next offset to process)",
    ["consumer", "topic", "partition"],
)
DEAD_LETTERS = Counter(
    "platform_dead_letters_total", "Messages sent to a dead-letter topic", ["consumer", "topic"]
)
