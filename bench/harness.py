"""What every benchmark here needs from its surroundings: the stack's addresses, free ports,
fresh topics, percentiles, and a line saying how busy the machine was (figures from a loaded
machine are only comparable within one run)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]


def load_env() -> tuple[str, str]:
    """(Kafka bootstrap, database URL): the environment's, else the stack's env file (in
    $STACK_STATE_DIR when set, as `./dev stack start` writes it, else `.state/`)."""
    state = Path(os.environ.get("STACK_STATE_DIR") or ROOT / ".state")
    env_file = state / "stack.env"
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key:
                os.environ.setdefault(key, value)
    return os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["DATABASE_URL"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], pct: float) -> float:
    """The value below which `pct` percent of `values` fall (nearest rank)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def machine_load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


async def create_topics(
    bootstrap: str,
    names: list[str],
    partitions: int = 6,
    configs: dict[str, str] | None = None,
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, partitions, 1, topic_configs=configs or {}) for n in names]
        )
    finally:
        await admin.close()
