"""Customer API: create and search throughput and p50/p99 latency with 100,000 customers loaded.

    uv run python bench/customer_api.py [--customers 100000] [--rates 500,300,200] [--seconds 20]
        [--compare main] [--no-search]

Needs the stack (reads .state/stack.env or KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL). Starts
`python -m customer_service` as a subprocess (relay and consumers running, as in production) and
drives it over real HTTP. Prints its figures; asserts nothing.

1. Load: a fresh bench tenant is filled with --customers rows by COPY, and removed at the end.
   The load bypasses the API and the outbox: it measures the API with that much data, not the load.
2. Create, open loop: POST /v1/customers at each of --rates requests/s for --seconds (the target:
   p99 < 20 ms at 500/s). Each request is sent at its scheduled time whether or not earlier ones
   finished, so a rate the service cannot keep up with shows as a backlog (achieved < offered).
3. Create, closed loop: --concurrency clients as fast as they can (maximum throughput).
4. Search: GET /v1/customers with q= (name fragments, tracking numbers, emails) and filters, first
   page of 50 (the target: p99 < 50 ms): open loop at --search-rate, then closed loops with 4
   and --concurrency clients (throughput; the latter saturates the 2 cores on purpose).

Each phase also prints the CPU it used: the service's process, this process (the load generator,
its own process, so its cost is visible and kept apart) and the whole machine.

--compare REV measures that git revision first (checked out into a temporary worktree, its
service started with its own sources on PYTHONPATH, this checkout's venv), then this checkout,
on the same stack and the same loaded tenant, and prints the two side by side: before and after
from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
import httpx
import uvloop
from harness import ROOT, load_env, machine_load, percentile

from platform_kit.auth import create_token, migrate_auth

# What `python -m customer_service` imports from a source tree.
SOURCES = ("services/customer/src", "libs/kit/src", "libs/events/src")
# A fresh tenant per run, removed at the end, so every run starts from exactly --customers rows.
TENANT = f"bench-customer-api-{uuid.uuid4().hex[:8]}"
WORDS = (
    "acme blue harbor red kite green leaf north star river stone iron oak summit pine maple "
    "golden bay silver peak ocean crest valley forge prairie cedar falcon eagle atlas orbit "
    "delta nova lumen vertex quartz ember willow birch coral"
).split()
SUFFIXES = ["Ltd", "Inc", "LLC", "Foods", "Supply", "Trading", "Group", "Works", "Co"]


class LeanClient:
    """Keep-alive HTTP/1.1 over raw asyncio streams. httpx alone saturated a core at ~100 req/s
    on this 2-core machine, so it measured the client, not the service."""

    def __init__(self, port: int, token: str, connections: int) -> None:
        self.port = port
        self.token = token
        self.size = connections
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )

    async def open(self) -> None:
        for _ in range(self.size):
            self.idle.put_nowait(await asyncio.open_connection("127.0.0.1", self.port))

    async def close(self) -> None:
        while not self.idle.empty():
            _, writer = self.idle.get_nowait()
            writer.close()

    async def request(self, method: str, target: str, body: bytes = b"") -> int:
        reader, writer = await self.idle.get()
        try:
            head = (
                f"{method} {target} HTTP/1.1\r\nHost: bench\r\n"
                f"Authorization: Bearer {self.token}\r\nContent-Length: {len(body)}\r\n"
            )
            if body:
                head += "Content-Type: application/json\r\n"
            writer.write(head.encode() + b"\r\n" + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            return int(status_line.split()[1])
        finally:
            self.idle.put_nowait((reader, writer))


def company(rng: random.Random) -> str:
    return f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {rng.choice(SUFFIXES)}"


def report(label: str, latencies: list[float], elapsed: float, errors: int) -> str:
    ms = [v * 1000 for v in latencies]
    return (
        f"{label:<34} {len(ms) / elapsed:8.1f} req/s  p50 {percentile(ms, 50):6.1f} ms  "
        f"p99 {percentile(ms, 99):6.1f} ms  max {max(ms):7.1f} ms  "
        f"(n={len(ms)}, errors={errors})"
    )


async def load_customers(dsn: str, count: int) -> None:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "customer"})
    try:
        have = await conn.fetchval("SELECT count(*) FROM customers WHERE tenant_id = $1", TENANT)
        if have >= count:
            print(f"load: {have} customers already in the bench tenant")
            return
        rng = random.Random(have)
        started = time.perf_counter()
        rows = []
        for i in range(have, count):
            name = company(rng)
            rows.append(
                (
                    uuid.uuid4(), TENANT, True, "business", name, name, "Bench Contact",
                    f"B{i:07d}", f"EXT-{i}", "USD", rng.choice(["Retail", "Wholesale"]),
                    "House", "Net 30", f"ap{i}@{name.split()[0].lower()}.test", 1,
                )
            )  # fmt: skip
        await conn.copy_records_to_table(
            "customers",
            records=rows,
            columns=[
                "customer_id", "tenant_id", "active", "customer_type", "company_name",
                "display_name", "contact_name", "tracking_number", "ext_account_number",
                "currency", "category", "sales_rep", "terms", "email", "version",
            ],
        )  # fmt: skip
        await conn.execute("VACUUM ANALYZE customers")
        # Flush the load's dirty pages now, so a checkpoint does not land inside a measurement.
        await conn.execute("CHECKPOINT")
        print(f"load: {len(rows)} customers copied in {time.perf_counter() - started:.1f}s")
    finally:
        await conn.close()


async def wait_ready(client: httpx.AsyncClient, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the service exited during start-up")
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.3)
    raise SystemExit("the service did not become ready")


def create_body(rng: random.Random) -> dict[str, object]:
    return {
        "company_name": company(rng),
        "contact_name": "Bench Person",
        "email": f"new{rng.randrange(10**9)}@bench.test",
        "category": rng.choice(["Retail", "Wholesale"]),
    }


async def open_loop(
    client: LeanClient,
    rate: float,
    seconds: float,
    request,  # type: ignore[no-untyped-def]
) -> tuple[list[float], float, int]:
    """Requests start on schedule whether or not earlier ones finished (no coordinated omission)."""
    rng = random.Random(1)
    latencies: list[float] = []
    errors = 0

    async def one() -> None:
        nonlocal errors
        started = time.perf_counter()
        ok = await request(client, rng)
        latencies.append(time.perf_counter() - started)
        errors += 0 if ok else 1

    tasks = []
    begin = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = begin + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return latencies, time.perf_counter() - begin, errors


async def closed_loop(
    client: LeanClient,
    seconds: float,
    concurrency: int,
    request,  # type: ignore[no-untyped-def]
) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            ok = await request(client, rng)
            latencies.append(time.perf_counter() - started)
            errors += 0 if ok else 1

    begin = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return latencies, time.perf_counter() - begin, errors


async def create_request(client: LeanClient, rng: random.Random) -> bool:
    body = json.dumps(create_body(rng)).encode()
    return await client.request("POST", "/v1/customers", body) == 201


def search_params(rng: random.Random, customers: int) -> dict[str, object]:
    kind = rng.randrange(5)
    if kind == 0:
        return {"q": rng.choice(WORDS)}
    if kind == 1:
        return {"q": f"{rng.choice(WORDS)} {rng.choice(WORDS)}"}
    if kind == 2:
        return {"q": f"B{rng.randrange(customers):07d}"}
    if kind == 3:
        return {"q": f"ap{rng.randrange(customers)}@"}
    return {"q": rng.choice(WORDS), "category": "Wholesale", "status": "active", "sort": "-created"}


def _proc_cpu(pid: int) -> float:
    """Seconds of CPU a process used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command line) of every process."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (FileNotFoundError, ProcessLookupError):
                continue
            found.append((int(entry.name), ppid, cmdline))
    return found


def stack_processes() -> dict[str, list[int]]:
    """The stack's PostgreSQL (postmaster and its backends) and Kafka processes, found by the
    stack's state directory on their command lines."""
    state = os.environ.get("STACK_STATE_DIR") or str(ROOT / ".state")
    processes = _processes()
    groups: dict[str, list[int]] = {"postgres": [], "kafka": []}
    for pid, _ppid, cmdline in processes:
        if state in cmdline and "postgres" in cmdline.split(" ")[0]:
            groups["postgres"].append(pid)
            groups["postgres"] += [p for p, parent, _ in processes if parent == pid]
        elif state in cmdline and cmdline.startswith("java"):
            groups["kafka"].append(pid)
    return groups


class CpuMeter:
    """CPU used during a phase, in percent of one core: the service process, this process (the
    load generator), the stack's PostgreSQL and Kafka, and the whole machine (everything else
    included: other work on a shared machine shows there), so a reader sees what the limit was."""

    def __init__(self, pid: int) -> None:
        self.groups = {"service": [pid], **stack_processes()}
        self.begin = self._sample()

    def _sample(self) -> dict[str, float]:
        ticks = os.sysconf("SC_CLK_TCK")
        own = resource.getrusage(resource.RUSAGE_SELF)
        cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return {
            "wall": time.perf_counter(),
            **{name: sum(_proc_cpu(p) for p in pids) for name, pids in self.groups.items()},
            "load generator": own.ru_utime + own.ru_stime,
            "machine": (sum(cpu) - cpu[3] - cpu[4]) / ticks,  # all but idle and iowait
        }

    def report(self) -> str:
        end = self._sample()
        wall = end["wall"] - self.begin["wall"]
        used = {k: (end[k] - self.begin[k]) / wall * 100 for k in end if k != "wall"}
        parts = ", ".join(f"{k} {v:.0f}%" for k, v in used.items() if k != "machine")
        return f"cpu: {parts}; machine {used['machine']:.0f}% of {(os.cpu_count() or 1) * 100}%"


class Service:
    """`python -m customer_service` from a source tree (this checkout, or a revision's)."""

    def __init__(self, tree: Path, port: int) -> None:
        self.tree = tree
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "HTTP_PORT": str(self.port),
            "LOG_LEVEL": "WARNING",
            # The revision's sources ahead of this checkout's (the venv is this checkout's).
            "PYTHONPATH": os.pathsep.join(str(self.tree / s) for s in SOURCES),
        }
        self.proc = subprocess.Popen([sys.executable, "-m", "customer_service"], env=env)  # noqa: ASYNC220
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as client:
            await wait_ready(client, self.proc)
        return self.proc

    async def __aexit__(self, *_exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(timeout=30)


@contextlib.contextmanager
def source_trees(compare: str | None) -> Iterator[list[tuple[str, Path]]]:
    """[(label, tree)]: the revision to compare with first (checked out into a temporary git
    worktree, removed at the end), then this checkout."""
    if compare is None:
        yield [("this checkout", ROOT)]
        return
    commit = subprocess.run(
        ["git", "rev-parse", "--short", compare], cwd=ROOT, check=True, capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="customer-api-before-") as temp:
        tree = Path(temp) / commit
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), commit], cwd=ROOT, check=True,
            capture_output=True,
        )  # fmt: skip
        try:
            yield [(f"{compare} ({commit})", tree), ("this checkout", ROOT)]
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                capture_output=True,
            )  # fmt: skip


async def measure_side(
    label: str,
    proc: subprocess.Popen[bytes],
    args: argparse.Namespace,
    token: str,
    results: dict[tuple[str, str], str],
) -> None:
    async def search_request(c: LeanClient, rng: random.Random) -> bool:
        query = urlencode(search_params(rng, args.customers))
        return await c.request("GET", f"/v1/customers?{query}") == 200

    lean = LeanClient(args.port, token, connections=64)
    await lean.open()
    # Warm-up: plans, caches, connections.
    await closed_loop(lean, 2, 4, search_request)
    await closed_loop(lean, 2, 4, create_request)

    async def phase(name: str, run) -> None:  # type: ignore[no-untyped-def]
        meter = CpuMeter(proc.pid)
        line = report(name, *await run)
        results[(label, name)] = line
        print(f"[{label}] {line}; {meter.report()}", flush=True)

    for rate in args.rates:
        await phase(f"create, open loop @ {rate:g}/s",
                    open_loop(lean, rate, args.seconds, create_request))  # fmt: skip
    await phase(f"create, closed loop x{args.concurrency}",
                closed_loop(lean, args.seconds / 2, args.concurrency, create_request))  # fmt: skip
    if not args.no_search:
        await phase(f"search, open loop @ {args.search_rate:g}/s",
                    open_loop(lean, args.search_rate, args.seconds / 2, search_request))  # fmt: skip
        await phase("search, closed loop x4",
                    closed_loop(lean, args.seconds / 2, 4, search_request))  # fmt: skip
        await phase(f"search, closed loop x{args.concurrency}",
                    closed_loop(lean, args.seconds / 2, args.concurrency, search_request))  # fmt: skip
    await lean.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument(
        "--rates", default="200", help="offered create rates, comma-separated (open loops)"
    )
    parser.add_argument("--search-rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--port", type=int, default=18601)
    parser.add_argument(
        "--compare", help="also measure this git revision (e.g. main), first, on the same data"
    )
    parser.add_argument("--no-search", action="store_true", help="create phases only")
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",")]
    _kafka, dsn = load_env()
    print(f"machine: {machine_load()} at start")

    await migrate_auth(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    assert pool is not None
    token = await create_token(pool, TENANT, ["read", "write", "admin"], "bench")
    await pool.close()
    results: dict[tuple[str, str], str] = {}
    loaded = False
    try:
        with source_trees(args.compare) as trees:
            for label, tree in trees:
                async with Service(tree, args.port) as proc:
                    if not loaded:
                        async with httpx.AsyncClient(
                            base_url=f"http://127.0.0.1:{args.port}",
                            headers={"Authorization": f"Bearer {token}"},
                        ) as client:
                            warm = await client.post(
                                "/customers", json=create_body(random.Random(0))
                            )
                            assert warm.status_code == 201, warm.text  # seeds the tenant's lists
                        await load_customers(dsn, args.customers)
                        loaded = True
                    print(f"[{label}] >= {args.customers} customers; server pid {proc.pid}")
                    await measure_side(label, proc, args, token, results)
    finally:
        await remove_bench_tenant(dsn)
    if args.compare:
        print("side by side (same run, same data):")
        for name in dict.fromkeys(name for _, name in results):
            for label in dict.fromkeys(label for label, _ in results):
                print(f"  {label:<22} {results.get((label, name), '-')}")
    print(f"machine: {machine_load()} at end")


async def remove_bench_tenant(dsn: str) -> None:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "customer"})
    try:
        await conn.execute("DELETE FROM customers WHERE tenant_id = $1", TENANT)
        await conn.execute("DELETE FROM reference_values WHERE tenant_id = $1", TENANT)
        await conn.execute("DELETE FROM seeded_tenants WHERE tenant_id = $1", TENANT)
    finally:
        await conn.close()


if __name__ == "__main__":
    # libuv's event loop: the client shares the 2 cores with the service it measures, so each
    # request should cost it as little as possible.
    uvloop.run(main())
