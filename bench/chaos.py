"""Chaos rehearsal: the whole platform (run_platform.py, with its supervisor) under a steady mixed
load, each service SIGKILLed at random, the broker and PostgreSQL restarted a few times; then the
checks of chaos_checks.py, printed. Every figure must be 0 (exit status 1 otherwise).

    uv run python bench/chaos.py [--kills 100] [--broker-restarts 3] [--pg-restarts 3]

Runs on a stack of its own (`.state/chaos`, Kafka 19233/19234, PostgreSQL 15571, Prometheus
9191, services 8185-8189; STACK_* and *_PORT move them) and a fresh database, so nothing of a
`./dev up` or a test run is touched. The QuickBooks emulator runs with faults on (server errors,
lost answers to applied writes, slow answers); it stands in for QuickBooks and is not killed.
A kill lands on a service that is up and answering, at a random moment 0.2-2 s after it got
ready (the supervisor restarts it); broker and PostgreSQL restarts are spread over the run.
After the load the run waits for the platform to catch up while the work left keeps shrinking
(--settle-seconds at most; --stall-seconds without progress ends it sooner), and prints how it
ended: what is left then counts as stuck, and `settle_outcome` says whether it was still
draining (bound) or had stopped moving (stalled).
tests/fault/test_chaos.py runs the same with a handful of kills on the tests' stack.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.chaos_checks import FIGURES, check, lagging_views, stuck_rows  # noqa: E402
from bench.chaos_load import Load  # noqa: E402

KILLED = ("customer", "billing", "qb-sync")
TENANT = "demo"  # the tenant run_platform connects to the emulator's company
REALM = "9130350000000001"
FAULTS = [  # QuickBooks misbehaving, on every company, for the whole run
    {"kind": "error", "status": 503, "probability": 0.05, "times": None},
    {"kind": "drop_after_commit", "method": "POST", "probability": 0.03, "times": None},
    {"kind": "latency", "seconds": 1.0, "probability": 0.05, "times": None},
]
# qb-sync tuned so a killed worker's leased rows come back in seconds, not minutes.
QB_SYNC_ENV = {
    "PUSH_LEASE_SECONDS": "8",
    "QBO_CONNECT_TIMEOUT_SECONDS": "1",
    "QBO_READ_TIMEOUT_SECONDS": "4",
    "QBO_RETRY_BASE_SECONDS": "0.1",
    "PUSH_BACKOFF_BASE_SECONDS": "0.2",
    "PUSH_BACKOFF_MAX_SECONDS": "3",
    "PUSH_MAX_ATTEMPTS": "50",
}


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Plan:
    kills: int = 100  # per service
    broker_restarts: int = 3
    pg_restarts: int = 3
    creates_per_s: float = 1.0
    changes_per_s: float = 1.0
    payments_per_s: float = 3.0
    # After the load: wait for the platform to catch up for at most settle_seconds, and give up
    # sooner only when the remaining work (rows not done, views behind) has not shrunk for
    # stall_seconds. A backlog still draining at the bound is reported as such, not as stuck.
    settle_seconds: float = 1800.0
    stall_seconds: float = 120.0
    seed: int = field(default_factory=lambda: random.randrange(1 << 30))


@dataclass
class Servers:
    kafka: str
    database_url: str  # the server's maintenance database; the run creates its own
    prometheus_url: str
    prometheus_targets: str
    restart_broker: Callable[[], None] | None = None
    restart_postgres: Callable[[], None] | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Platform:
    """run_platform.py as a child process, on the given servers and a fresh database."""

    def __init__(self, servers: Servers, database_url: str, workdir: Path, ports: dict[str, int]):
        self.workdir = workdir
        # The supervisor's metrics port too, so its scrape target is known (restarts_scraped).
        self.ports = {"PLATFORM_METRICS": _free_port(), **ports}
        self.env = {
            **os.environ,
            **QB_SYNC_ENV,
            "KAFKA_BOOTSTRAP_SERVERS": servers.kafka,
            "DATABASE_URL": database_url,
            "PROMETHEUS_URL": servers.prometheus_url,
            "PROMETHEUS_TARGETS_DIR": servers.prometheus_targets,
            "STACK_STATE_DIR": str(workdir),
            "PLATFORM_RESTART_BASE_SECONDS": "0.2",
            "PLATFORM_RESTART_MAX_SECONDS": "5",
            "LOG_LEVEL": "WARNING",
            **{f"{name}_PORT": str(port) for name, port in self.ports.items()},
        }
        self.env.pop("QBO_CLIENT_ID", None)
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, timeout: float = 300) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "qbo-emulator.json").unlink(missing_ok=True)  # a fresh QuickBooks
        (self.workdir / "platform-status.json").unlink(missing_ok=True)
        self.output = open(self.workdir / "platform.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "deploy" / "local" / "run_platform.py")],
            env=self.env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"run_platform exited; see {self.workdir / 'platform.log'}")
            status = self.status()
            if status and all(s["state"] == "ready" for s in status.values()):
                return
            time.sleep(0.5)
        raise RuntimeError("the platform did not come up in time")

    def status(self) -> dict[str, Any]:
        with contextlib.suppress(OSError, ValueError):
            services: dict[str, Any] = json.loads(
                (self.workdir / "platform-status.json").read_text()
            )["services"]
            return services
        return {}

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(AttributeError):
            self.output.close()


async def fresh_database(server_url: str, name: str) -> str:
    base, _, _ = server_url.rpartition("/")
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{base}/{name}"


async def admin_token(database_url: str) -> str:
    from platform_kit.auth import create_token

    conn = await asyncpg.connect(database_url)
    try:
        return await create_token(conn, TENANT, ["read", "write", "admin"], "chaos")
    finally:
        await conn.close()


async def killer(platform: Platform, name: str, kills: int, rnd: random.Random, done: list[int]):
    """SIGKILL `name` `kills` times, each at a random moment after it got ready again."""
    while done[0] < kills:
        status = platform.status().get(name, {})
        if status.get("state") != "ready" or not status.get("pid"):
            await asyncio.sleep(0.2)
            continue
        await asyncio.sleep(rnd.uniform(0.2, 2.0))
        pid = platform.status().get(name, {}).get("pid")
        if pid != status["pid"]:
            continue  # it died or was restarted meanwhile
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            done[0] += 1
        while platform.status().get(name, {}).get("pid") == pid:
            await asyncio.sleep(0.2)  # until the supervisor noticed


async def server_restarts(servers: Servers, plan: Plan, progress: Callable[[], float]) -> int:
    """Restart the broker and PostgreSQL at evenly spread points of the kill phase."""
    events: list[tuple[str, Callable[[], None]]] = []
    for i in range(max(plan.broker_restarts, plan.pg_restarts)):
        if i < plan.broker_restarts and servers.restart_broker:
            events.append(("broker", servers.restart_broker))
        if i < plan.pg_restarts and servers.restart_postgres:
            events.append(("postgres", servers.restart_postgres))
    for n, (what, restart) in enumerate(events):
        while progress() < (n + 1) / (len(events) + 1):
            await asyncio.sleep(1)
        log(f"restarting {what}")
        await asyncio.to_thread(restart)
        log(f"{what} back")
    return len(events)


@dataclass
class Settled:
    seconds: float
    outcome: str  # caught_up | stalled (no progress for stall_seconds) | bound (still draining)
    remaining: int  # rows not done + views behind when the wait ended
    drained_per_minute: float  # over the last stall window: how fast the backlog was going


def remaining_work(stuck: dict[str, int], lagging: dict[str, list[str]]) -> int:
    return sum(stuck.values()) + sum(len(v) for v in lagging.values())


async def settle(pool: asyncpg.Pool, load: Load, bound: float, stall: float) -> Settled:
    """Wait until the platform caught up: nothing stuck, every view at the latest version. Waits
    as long as the remaining work keeps shrinking (a push backlog drains at QuickBooks' pace),
    up to `bound`; gives up after `stall` seconds without a new low."""
    started = time.monotonic()
    await load.settle_payments()
    lowest, lowest_at, logged = None, started, started
    history: list[tuple[float, int]] = []
    while True:
        async with pool.acquire() as conn:
            left = remaining_work(await stuck_rows(conn, TENANT), await lagging_views(conn, TENANT))
        now = time.monotonic()
        history = [(t, n) for t, n in history if now - t <= stall] + [(now, left)]
        rate = (history[0][1] - left) / max(now - history[0][0], 1e-9) * 60
        if left == 0:
            return Settled(now - started, "caught_up", 0, round(rate, 1))
        if lowest is None or left < lowest:
            lowest, lowest_at = left, now
        if now - lowest_at >= stall:
            return Settled(now - started, "stalled", left, round(rate, 1))
        if now - started >= bound:
            return Settled(now - started, "bound", left, round(rate, 1))
        if now - logged >= 30:
            log(f"settling: {left} left, {rate:.0f}/min over the last {stall:.0f} s")
            logged = now
        await asyncio.sleep(2)


async def restarts_scraped(
    prometheus_url: str, platform: Platform, timeout: float = 60
) -> dict[str, int]:
    """The supervisor's restart counts as Prometheus scraped them (platform_process_restarts_total),
    once the scrapes caught up with the status file's counts (or `timeout` passed)."""
    import httpx

    instance = f"127.0.0.1:{platform.ports['PLATFORM_METRICS']}"
    query = f'platform_process_restarts_total{{instance="{instance}"}}'
    scraped: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=10) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                answer = await client.get(prometheus_url + "/api/v1/query", params={"query": query})
                scraped = {
                    row["metric"]["process"]: int(float(row["value"][1]))
                    for row in answer.json()["data"]["result"]
                }
            told = {n: s.get("restarts", 0) for n, s in platform.status().items()}
            if (scraped and all(scraped.get(n) == r for n, r in told.items())) or (
                time.monotonic() > deadline
            ):
                return scraped
            await asyncio.sleep(2)


async def drop_database(server_url: str, database_url: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(
            f'DROP DATABASE IF EXISTS "{database_url.rpartition("/")[2]}" WITH (FORCE)'
        )
    finally:
        await conn.close()


async def run(
    plan: Plan,
    servers: Servers,
    workdir: Path,
    ports: dict[str, int],
    keep_database: bool = True,
) -> dict[str, Any]:
    rnd = random.Random(plan.seed)
    run_id = uuid.uuid4().hex[:8]
    database_url = await fresh_database(servers.database_url, f"chaos_{run_id}")
    platform = Platform(servers, database_url, workdir, ports)
    log(f"seed {plan.seed}; database {database_url}; platform log {workdir / 'platform.log'}")
    started = time.monotonic()
    platform.start()
    log("platform up")
    import httpx

    async with httpx.AsyncClient(timeout=30) as client:
        for fault in FAULTS:
            (
                await client.post(platform.url("QBO_EMULATOR") + "/_admin/faults", json=fault)
            ).raise_for_status()
    token = await admin_token(database_url)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    load = Load(
        platform.url("CUSTOMER"), platform.url("BILLING"), token, REALM, run_id, seed=plan.seed
    )
    kills = {name: [0] for name in KILLED}
    try:
        loading = asyncio.create_task(
            load.run(plan.creates_per_s, plan.changes_per_s, plan.payments_per_s)
        )
        killers = [
            killer(platform, name, plan.kills, random.Random(rnd.random()), kills[name])
            for name in KILLED
        ]

        def progress() -> float:
            return min(k[0] for k in kills.values()) / max(plan.kills, 1)

        async def report() -> None:
            while True:
                await asyncio.sleep(30)
                restarts = {n: s.get("restarts") for n, s in platform.status().items()}
                log(
                    f"kills { ({n: k[0] for n, k in kills.items()}) } restarts {restarts} "
                    f"customers {len(load.told.customers)} payments {len(load.told.payments)}"
                )

        reporting = asyncio.create_task(report())
        restarts = asyncio.create_task(server_restarts(servers, plan, progress))
        await asyncio.gather(*killers)
        server_restart_count = await restarts
        await load.stop()
        await loading
        reporting.cancel()
        killed_at = time.monotonic()
        log("kills done; waiting for the platform to settle")
        settled = await settle(pool, load, plan.settle_seconds, plan.stall_seconds)
        log(f"settle: {settled.outcome} after {settled.seconds:.0f} s, {settled.remaining} left")
        figures, details = await check(pool, load.told, TENANT, REALM, platform.url("QBO_EMULATOR"))
        restarts_seen = {n: s.get("restarts") for n, s in platform.status().items()}
        scraped = await restarts_scraped(servers.prometheus_url, platform)
    finally:
        await load.close()
        await pool.close()
        platform.stop()
        if not keep_database:
            await drop_database(servers.database_url, database_url)
    return {
        "seed": plan.seed,
        "kills": {n: k[0] for n, k in kills.items()},
        "supervisor_restarts": restarts_seen,
        "restarts_scraped": scraped,  # the same counts, as Prometheus has them
        "server_restarts": server_restart_count,
        "customers_acknowledged": len(load.told.customers),
        "customers_uncertain": load.told.uncertain_creates,
        "changes": load.told.changes,
        "payments_acknowledged": len(load.told.payments),
        "payments_unresolved": len(load.told.unresolved_payments),
        "pushes_requested": len(load.told.pushes),
        "refused": load.told.refused,
        "load_seconds": round(killed_at - started, 1),
        "settle_seconds": round(settled.seconds, 1),
        # rows_stuck below counts what was left when the wait ended; this says whether it was
        # still draining (bound), had stopped moving (stalled) or nothing was left (caught_up).
        "settle_outcome": settled.outcome,
        "left_at_settle_end": settled.remaining,
        "drained_per_minute": settled.drained_per_minute,
        "figures": figures,
        "details": {k: v for k, v in details.items() if figures.get(k)},
    }


def print_report(result: dict[str, Any]) -> None:
    print()
    for key in (
        "seed",
        "kills",
        "supervisor_restarts",
        "restarts_scraped",
        "server_restarts",
        "customers_acknowledged",
        "customers_uncertain",
        "changes",
        "payments_acknowledged",
        "payments_unresolved",
        "pushes_requested",
        "refused",
        "load_seconds",
        "settle_seconds",
        "settle_outcome",
        "left_at_settle_end",
        "drained_per_minute",
    ):
        print(f"{key:<26}{result[key]}")
    print()
    for figure in FIGURES:
        print(f"{figure.replace('_', ' '):<26}{result['figures'][figure]}")
    if result["details"]:
        print("\ndetails:", json.dumps(result["details"], indent=2, default=str)[:20_000])


def own_stack() -> Servers:
    """Start the chaos run's own stack (imported after the STACK_* defaults are set)."""
    defaults = {
        "STACK_STATE_DIR": str(ROOT / ".state" / "chaos"),
        "STACK_KAFKA_PORT": "19233",
        "STACK_KAFKA_CONTROLLER_PORT": "19234",
        "STACK_PG_PORT": "15571",
        "STACK_PROMETHEUS_PORT": "9191",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    for key in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "PROMETHEUS_URL"):
        os.environ.pop(key, None)
    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    import prometheus_local
    import stack

    stack.start()

    def restart_broker() -> None:
        stack.stop_kafka()
        time.sleep(2)
        stack.start_kafka()

    def restart_postgres() -> None:
        stack.stop_postgres()
        time.sleep(2)
        stack.start_postgres()

    return Servers(
        kafka=stack.bootstrap_servers(),
        database_url=stack.database_url(),
        prometheus_url=prometheus_local.prometheus_url(),
        prometheus_targets=str(prometheus_local.prometheus_targets_dir()),
        restart_broker=restart_broker,
        restart_postgres=restart_postgres,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs per service")
    parser.add_argument("--broker-restarts", type=int, default=3)
    parser.add_argument("--pg-restarts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--settle-seconds", type=float, default=Plan.settle_seconds, help="longest wait at the end"
    )
    parser.add_argument(
        "--stall-seconds",
        type=float,
        default=Plan.stall_seconds,
        help="stop waiting sooner when nothing got done for this long",
    )
    parser.add_argument("--keep-stack", action="store_true", help="leave the stack running")
    args = parser.parse_args()
    plan = Plan(
        kills=args.kills,
        broker_restarts=args.broker_restarts,
        pg_restarts=args.pg_restarts,
        settle_seconds=args.settle_seconds,
        stall_seconds=args.stall_seconds,
    )
    if args.seed is not None:
        plan.seed = args.seed
    servers = own_stack()
    ports = {
        "CUSTOMER": int(os.environ.get("CUSTOMER_PORT", "8185")),
        "BILLING": int(os.environ.get("BILLING_PORT", "8186")),
        "QB_SYNC": int(os.environ.get("QB_SYNC_PORT", "8187")),
        "QBO_EMULATOR": int(os.environ.get("QBO_EMULATOR_PORT", "8188")),
        "OPS_CONSOLE": int(os.environ.get("OPS_CONSOLE_PORT", "8189")),
    }
    workdir = Path(os.environ["STACK_STATE_DIR"]) / "platform"
    try:
        result = asyncio.run(run(plan, servers, workdir, ports))
    finally:
        if not args.keep_stack:
            import stack

            stack.stop()
    print_report(result)
    sys.exit(1 if any(result["figures"].values()) else 0)


if __name__ == "__main__":
    main()
