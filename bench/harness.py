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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(parent: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                pids.append(int(stat.parent.name))
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return pids


def stack_pids() -> dict[str, list[int]]:
    """The local stack's broker and PostgreSQL processes (the postmaster and its backends), from
    the pid files `./dev stack start` leaves in the state directory; empty when not found."""
    state = Path(os.environ.get("STACK_STATE_DIR") or ROOT / ".state")
    found: dict[str, list[int]] = {}
    kafka_pid = state / "kafka" / "kafka.pid"
    if kafka_pid.exists():
        found["broker"] = [int(kafka_pid.read_text().split()[0])]
    postmaster = state / "pg" / "data" / "postmaster.pid"
    if postmaster.exists():
        pid = int(postmaster.read_text().split()[0])
        found["postgres"] = [pid, *_children(pid)]
    return found


class CpuMeter:
    """CPU seconds each named group of processes used between start() and stop(): where a
    pipeline's cores went. Processes that end before stop() are not counted."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self._start: dict[int, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self._start = {pid: _cpu_seconds(pid) for pids in self.groups.values() for pid in pids}

    def stop(self) -> None:
        if "postgres" in self.groups:  # backends that connected meanwhile (start counted as 0)
            self.groups["postgres"] = [self.groups["postgres"][0],
                                       *_children(self.groups["postgres"][0])]  # fmt: skip
        self.used = {
            name: sum(_cpu_seconds(pid) - self._start.get(pid, 0.0) for pid in pids)
            for name, pids in self.groups.items()
        }

    def line(self, events: int) -> str:
        total = sum(self.used.values())
        parts = ", ".join(
            f"{name} {seconds * 1e6 / events:,.0f}" for name, seconds in self.used.items()
        )
        return f"  CPU per event (us): {parts}; all {total * 1e6 / max(events, 1):,.0f}"
