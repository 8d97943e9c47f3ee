"""Customer API: create and search throughput and p50/p99 latency with 100,000 customers loaded.

    uv run python bench/customer_api.py [--customers 100000] [--rate 200] [--seconds 20]

Needs the stack (reads .state/stack.env or KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL). Starts
`python -m customer_service` as a subprocess (relay and consumers running, as in production) and
drives it over real HTTP. Prints its figures; asserts nothing.

1. Load: a fresh bench tenant is filled with --customers rows by COPY, and removed at the end.
   The load bypasses the API and the outbox: it measures the API with that much data, not the load.
2. Create, open loop: POST /customers at --rate requests/s for --seconds (the target: p99 < 30 ms
   at 200/s). Each request is sent at its scheduled time whether or not earlier ones finished.
3. Create, closed loop: --concurrency clients as fast as they can (maximum throughput).
4. Search: GET /customers with q= (name fragments, tracking numbers, emails) and filters, first
   page of 50 (the target: p99 < 50 ms): open loop at --search-rate, then closed loops with 4
   and --concurrency clients (throughput; the latter saturates the 2 cores on purpose).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from urllib.parse import urlencode

import asyncpg
import httpx
import uvloop
from harness import load_env, machine_load, percentile

from platform_kit.auth import create_token, migrate_auth

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


def report(label: str, latencies: list[float], elapsed: float, errors: int) -> None:
    ms = [v * 1000 for v in latencies]
    print(
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
    return await client.request("POST", "/customers", body) == 201


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


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--search-rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--port", type=int, default=18601)
    args = parser.parse_args()
    _kafka, dsn = load_env()
    print(f"machine: {machine_load()} at start")

    env = {**os.environ, "HTTP_PORT": str(args.port), "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "customer_service"], env=env)  # noqa: ASYNC220
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{args.port}", limits=limits, timeout=30
        ) as client:
            await wait_ready(client, proc)
            await migrate_auth(dsn)
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
            assert pool is not None
            token = await create_token(pool, TENANT, ["read", "write"], "bench")
            await pool.close()
            client.headers["Authorization"] = f"Bearer {token}"
            warm = await client.post("/customers", json=create_body(random.Random(0)))
            assert warm.status_code == 201, warm.text  # also seeds the tenant's reference lists
            await load_customers(dsn, args.customers)
            print(f"customers in the bench tenant: >= {args.customers}; server pid {proc.pid}")

            async def search_request(c: LeanClient, rng: random.Random) -> bool:
                query = urlencode(search_params(rng, args.customers))
                return await c.request("GET", f"/customers?{query}") == 200

            lean = LeanClient(args.port, token, connections=64)
            await lean.open()

            # Warm-up: plans, caches, connections.
            await closed_loop(lean, 2, 4, search_request)
            await closed_loop(lean, 2, 4, create_request)

            report(f"create, open loop @ {args.rate:g}/s",
                   *await open_loop(lean, args.rate, args.seconds, create_request))  # fmt: skip
            report(f"create, closed loop x{args.concurrency}",
                   *await closed_loop(lean, args.seconds / 2, args.concurrency, create_request))  # fmt: skip
            report(f"search, open loop @ {args.search_rate:g}/s",
                   *await open_loop(lean, args.search_rate, args.seconds / 2, search_request))  # fmt: skip
            report("search, closed loop x4",
                   *await closed_loop(lean, args.seconds / 2, 4, search_request))  # fmt: skip
            report(f"search, closed loop x{args.concurrency}",
                   *await closed_loop(lean, args.seconds / 2, args.concurrency, search_request))  # fmt: skip
            await lean.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        await remove_bench_tenant(dsn)
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
