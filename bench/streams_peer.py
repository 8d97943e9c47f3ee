"""The Kafka Streams peer of the billing benchmark (sources in bench/streams-peer/): built here with
Maven at the broker's version into the cache dir, run as its own JVM, read back from its output.

The peer computes balances per customer from the transactions topic with
processing.guarantee=exactly_once_v2 and writes each customer's new totals to an output topic
whose timestamps are the broker's append times, with the input record's timestamp in the value:
append time - input time is its lag (the record turns visible to read-committed readers at the
transaction's commit, within commit.interval.ms, 100 ms by default under exactly-once, later).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from harness import ROOT, create_topics

SOURCES = Path(__file__).resolve().parent / "streams-peer"
PARTITIONS = 6  # of the output topic, as created here
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "customer-platform"


def broker_version() -> str:
    """The Kafka version deploy/local/stack.py runs (the peer uses the same client version)."""
    text = (ROOT / "deploy" / "local" / "stack.py").read_text()
    found = re.search(r'^KAFKA_VERSION = "([^"]+)"', text, re.MULTILINE)
    assert found, "KAFKA_VERSION not found in deploy/local/stack.py"
    return found.group(1)


def build() -> Path:
    """Compiles the peer once per version of its sources; returns its directory in the cache
    (classes/ and lib/)."""
    version = broker_version()
    digest = hashlib.sha256()
    for path in sorted(SOURCES.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(SOURCES).as_posix().encode() + path.read_bytes())
    out = CACHE / f"streams-peer-{version}-{digest.hexdigest()[:12]}"
    if (out / "classes").exists():
        return out
    if not shutil.which("mvn"):
        raise SystemExit("the Streams peer needs Maven: apt-get install maven")
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    result = subprocess.run(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(SOURCES / "pom.xml"),
            f"-Dkafka.version={version}",
            f"-Dpeer.build.dir={tmp / 'build'}",
            "compile",
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={tmp / 'lib'}",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"could not build the Streams peer:\n{result.stdout}\n{result.stderr}")
    (tmp / "build" / "classes").rename(tmp / "classes")
    shutil.rmtree(tmp / "build")
    tmp.rename(out)
    return out


@dataclass
class Peer:
    bootstrap: str
    input_topic: str
    threads: int = 2
    application_id: str = ""
    output_topic: str = ""
    proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        home = build()
        tag = uuid.uuid4().hex[:8]
        self.application_id = f"bench-streams-peer-{tag}"
        self.output_topic = f"bench.peer-balances.{tag}"
        await create_topics(
            self.bootstrap,
            [self.output_topic],
            PARTITIONS,
            configs={"message.timestamp.type": "LogAppendTime"},
        )
        self._launch(home, CACHE / "streams-peer-state" / tag)

    def _launch(self, home: Path, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        classpath = os.pathsep.join([str(home / "classes"), str(home / "lib" / "*")])
        java = (
            str(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
            if "JAVA_HOME" in os.environ
            else "java"
        )
        self.proc = subprocess.Popen(
            [
                java,
                "-cp",
                classpath,
                "platform.bench.BalancesPeer",
                self.bootstrap,
                self.input_topic,
                self.output_topic,
                self.application_id,
                str(state_dir),
                str(self.threads),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(CACHE / "streams-peer-state" / self.application_id[-8:], ignore_errors=True)

    async def wait_done(self, expected: int, timeout: float = 600) -> float:
        """Until the peer's committed input offsets add up to `expected` messages (under
        exactly-once they commit with its output); returns time.time() when first seen so."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                offsets = await admin.list_consumer_group_offsets(self.application_id)
                done = sum(
                    meta.offset for tp, meta in offsets.items() if tp.topic == self.input_topic
                )
                if done >= expected:
                    return time.time()
                if self.proc and self.proc.poll() is not None:
                    raise RuntimeError(f"the Streams peer exited with {self.proc.returncode}")
                await asyncio.sleep(0.1)
            raise TimeoutError("the Streams peer did not finish")
        finally:
            await admin.close()

    async def read_output(self) -> tuple[dict[str, tuple[int, ...]], list[float]]:
        """(the last totals per customer, lag in seconds per output record)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            isolation_level="read_committed",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(self.output_topic, p) for p in range(PARTITIONS)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            totals: dict[str, tuple[int, ...]] = {}
            lags: list[float] = []

            async def behind() -> bool:
                return any([await consumer.position(tp) < ends[tp] for tp in partitions])

            while await behind():
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        *figures, sent_ms = (int(x) for x in record.value.decode().split(","))
                        totals[record.key.decode()] = tuple(figures)
                        lags.append((record.timestamp - sent_ms) / 1000)
            return totals, lags
        finally:
            await consumer.stop()
