"""qb-sync push, both paths side by side: a first push of N new customers through the QuickBooks
emulator at QuickBooks' default limits, one customer at a time, then in batches.

    uv run python bench/qb_push.py [--customers 1000] [--single-customers N] [--paths single,batch]

Needs the stack (reads .state/stack.env or KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL). The
emulator runs as its own process with its defaults (strict auth, 200 ms per request, 500
requests/min, 10/s, 10 in flight, 40 batch requests/min per company; a batch counts once toward
the 500). The customer service and qb-sync run in this process with their default settings,
qb-sync limited to each run's tenant; the single-call run only turns batches off
(`push_batch_enabled=False`: each push is a find plus a create, two calls a customer).

Each path gets its own tenant and company. The customers are created and their pushes requested
while the company is not connected yet (an existing book about to be pushed); the clock starts
when qb-sync is connected to it (through qb-sync's connect API, so every call carries a token the
emulator issued) and stops when every mapping is synced. The two runs go one after the other, so
they do not share the machine.

Prints per path: wall time, new customers a minute, calls made (as counted by the emulator) and
calls a minute against the 500 limit, batch requests a minute against the 40 limit, 429s
received, and duplicates. A duplicate is counted from what reached QuickBooks' business logic
(creates per name, from the emulator), not from the customers left standing; single creates
answered 6240 are printed too. Then the time a first push of 10,000 customers takes at each
path's measured rate.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import httpx
from harness import load_env, machine_load

from customer_service.app import create_app as create_customer_app
from customer_service.settings import Settings as CustomerSettings
from platform_kit.auth import create_token
from qb_sync.app import create_app
from qb_sync.settings import Settings
from qbo_emulator.testing import EmulatorServer

LIMIT_PER_MINUTE = 500  # QuickBooks' (and the emulator's default) per-company limit
BATCH_LIMIT_PER_MINUTE = 40  # batch requests a minute per company and app
FIRST_PUSH = 10_000


@dataclass
class Figures:
    path: str
    customers: int
    wall: float
    calls: int
    batches: int
    throttled: int
    throttled_by: dict[str, int]
    duplicates: int
    single_6240: int
    statuses: dict[str, int]
    paused: float  # seconds without a call to QuickBooks (pauses after a 429)

    @property
    def per_minute(self) -> float:
        return self.customers / (self.wall / 60)

    @property
    def calls_per_minute(self) -> float:
        return self.calls / (self.wall / 60)


async def push_run(
    emulator: EmulatorServer, bootstrap: str, dsn: str, customers: int, *, batches: bool
) -> Figures:
    path = "batch" if batches else "single"
    tenant = f"qbbench-{path}-{uuid.uuid4().hex[:8]}"
    realm = str(8_000_000_000 + uuid.uuid4().int % 1_000_000_000)
    sync = create_app(
        Settings(
            database_url=dsn,
            kafka_bootstrap_servers=bootstrap,
            qbo_base_url=emulator.base_url,
            pull_enabled=False,
            push_tenant_prefix=tenant,
            push_batch_enabled=batches,
            log_level="WARNING",
        )
    )
    customer_app = create_customer_app(
        CustomerSettings(database_url=dsn, kafka_bootstrap_servers=bootstrap)
    )
    async with (
        sync.router.lifespan_context(sync),
        customer_app.router.lifespan_context(customer_app),
    ):
        pool = sync.state.runtime.db
        token = await create_token(pool, tenant, ["read", "write", "admin"])
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=customer_app),
                base_url="http://customer",
                headers=headers,
                timeout=60,
            ) as client,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=sync), base_url="http://qb-sync", headers=headers
            ) as qb_sync,
        ):
            gate = asyncio.Semaphore(16)

            async def create_and_request(name: str) -> None:
                async with gate:
                    body = {"company_name": name, "contact_name": "Ada Lovelace"}
                    reply = await client.post("/customers", json=body)
                    reply.raise_for_status()
                    cid = reply.json()["customer_id"]
                    push = await client.post(
                        f"/customers/{cid}/quickbooks/push", json={"realm_id": realm}
                    )
                    push.raise_for_status()

            names = [f"Bench {path} {i:05d} O'Hara & Sons" for i in range(customers)]
            await create_and_request(names[0])  # sets the tenant up, then the rest at once
            await asyncio.gather(*(create_and_request(n) for n in names[1:]))
            while await count(pool, tenant, "pending") < customers:
                await asyncio.sleep(0.2)  # every push request has reached qb-sync
            started = time.monotonic()
            connected = await qb_sync.post("/quickbooks/connections", json={"realm_id": realm})
            connected.raise_for_status()
            while await count(pool, tenant, "synced") < customers:
                await asyncio.sleep(0.05)
            finished = time.monotonic()
        statuses = await pool.fetch(
            "SELECT status, count(*) FROM push_mappings WHERE tenant_id = $1 GROUP BY 1", tenant
        )
    log = [r for r in emulator.requests() if r.get("realm") == realm]
    creates = Counter(
        {
            key.partition(":")[2]: n
            for key, n in emulator.state()["creates_by_name"].items()
            if key.startswith(f"{realm}:")
        }
    )
    return Figures(
        path=path,
        customers=customers,
        wall=finished - started,
        calls=emulator.request_count(realm),
        batches=sum(1 for r in log if r["path"].endswith("/batch")),
        throttled=emulator.throttled_count(realm),
        throttled_by={
            limit: n
            for limit in ("per_minute", "per_second", "concurrent", "batch_per_minute")
            if (n := emulator.throttled_count(realm, limit))
        },
        duplicates=sum(n - 1 for n in creates.values() if n > 1),
        single_6240=sum(
            1
            for r in log
            if r["method"] == "POST" and r["path"].endswith("/customer") and r["status"] == 400
        ),
        statuses={r["status"]: r["count"] for r in statuses},
        paused=pauses(sorted(float(r["at"]) for r in log)),
    )


def pauses(arrivals: list[float], longer_than: float = 20.0) -> float:
    """Total time between two consecutive calls that were more than `longer_than` apart."""
    gaps = (b - a for a, b in itertools.pairwise(arrivals))
    return sum(g for g in gaps if g > longer_than)


async def count(pool: object, tenant: str, status: str) -> int:
    value = await pool.fetchval(  # type: ignore[attr-defined]
        "SELECT count(*) FROM push_mappings WHERE tenant_id = $1 AND status = $2", tenant, status
    )
    return int(value)


def report(runs: list[Figures]) -> None:
    def row(label: str, *values: str) -> None:
        print(f"{label:<28}" + "".join(f"{v:>26}" for v in values))

    row("", *(f"{r.path} path" for r in runs))
    row("customers pushed", *(str(r.customers) for r in runs))
    row("mapping statuses", *(str(r.statuses) for r in runs))
    row("wall time", *(f"{r.wall:.1f} s" for r in runs))
    row("new customers / min", *(f"{r.per_minute:.0f}" for r in runs))
    row("calls made", *(f"{r.calls} ({r.calls / r.customers:.2f}/customer)" for r in runs))
    row(
        "calls / min (limit 500)",
        *(f"{r.calls_per_minute:.1f} = {r.calls_per_minute / LIMIT_PER_MINUTE:.1%}" for r in runs),
    )
    row(
        "batch requests / min (40)",
        *(f"{r.batches / (r.wall / 60):.1f} ({r.batches} sent)" for r in runs),
    )
    row(
        "calls / min outside pauses",
        *(
            f"{r.calls / ((r.wall - r.paused) / 60):.1f} ({r.paused:.0f} s paused)"
            if r.paused
            else "(no pause)"
            for r in runs
        ),
    )
    row("429s received", *(f"{r.throttled} {r.throttled_by or ''}" for r in runs))
    row("duplicates", *(str(r.duplicates) for r in runs))
    row("single creates answered 6240", *(str(r.single_6240) for r in runs))
    row(
        f"first push of {FIRST_PUSH:,}",
        *(f"{FIRST_PUSH / r.per_minute:.1f} min (at this rate)" for r in runs),
    )
    print(machine_load())


async def run(customers: int, single_customers: int, paths: list[str]) -> None:
    bootstrap, dsn = load_env()
    runs = []
    # Strict auth and the server's default service time (200 ms a request), as QuickBooks is.
    with EmulatorServer(subprocess_mode=True, permissive=False, service_time_ms=None) as emulator:
        if "single" in paths:
            runs.append(await push_run(emulator, bootstrap, dsn, single_customers, batches=False))
        if "batch" in paths:
            runs.append(await push_run(emulator, bootstrap, dsn, customers, batches=True))
    report(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000, help="pushed on the batch path")
    parser.add_argument(
        "--single-customers", type=int, default=None, help="on the single path (default: same)"
    )
    parser.add_argument("--paths", default="single,batch", help="which paths to run, in order")
    args = parser.parse_args()
    paths = args.paths.split(",")
    asyncio.run(run(args.customers, args.single_customers or args.customers, paths))


if __name__ == "__main__":
    main()
