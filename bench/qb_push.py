"""qb-sync push: 1,000 new customers through the QuickBooks emulator at QuickBooks' default limits.

    uv run python bench/qb_push.py [--customers 1000]

Needs the stack (reads .state/stack.env or KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL). The
emulator runs as its own process with its defaults (strict auth, 200 ms per request, 500
requests/min, 10/s, 10 in flight per company); the customer service and qb-sync run in this
process with their default settings (qb-sync paces itself at 470/min, 8/s, 4 in flight), qb-sync
limited to this run's tenant. The company is connected through qb-sync's connect API, so every
call carries a token the emulator issued (the company accepts no other).

The customers are created and their push requested through the customer service API (pushing
starts meanwhile); the clock starts at the first QuickBooks call and stops when every mapping is
synced. Each push is a
find-first query plus a create: about two calls per customer.

Prints: wall time, calls made (as counted by the emulator), 429s received, achieved calls per
minute / the 500 per-minute limit, and duplicates. A duplicate is counted from what reached
QuickBooks' business logic (creates per name, from the emulator), not from the customers left
standing, since QuickBooks' name uniqueness would hide a second create behind a 6240: the 6240s
answered to creates are printed too, and both must be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter

import httpx
from harness import load_env

from customer_service.app import create_app as create_customer_app
from customer_service.settings import Settings as CustomerSettings
from platform_kit.auth import create_token
from qb_sync.app import create_app
from qb_sync.settings import Settings
from qbo_emulator.testing import EmulatorServer

LIMIT_PER_MINUTE = 500  # QuickBooks' (and the emulator's default) per-company limit


async def run(customers: int) -> None:
    bootstrap, dsn = load_env()
    tenant = f"qbbench-{uuid.uuid4().hex[:8]}"
    realm = str(8_000_000_000 + uuid.uuid4().int % 1_000_000_000)
    # Strict auth and the server's default service time (200 ms a request), as QuickBooks is.
    with EmulatorServer(subprocess_mode=True, permissive=False, service_time_ms=None) as emulator:
        sync = create_app(
            Settings(
                database_url=dsn,
                kafka_bootstrap_servers=bootstrap,
                qbo_base_url=emulator.base_url,
                pull_enabled=False,
                push_tenant_prefix=tenant,
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
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=sync),
                base_url="http://qb-sync",
                headers={"Authorization": f"Bearer {token}"},
            ) as qb_sync:
                connected = await qb_sync.post("/quickbooks/connections", json={"realm_id": realm})
                connected.raise_for_status()
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=customer_app),
                base_url="http://customer",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            names = [f"Bench {i:05d} O'Hara & Sons" for i in range(customers)]
            gate = asyncio.Semaphore(16)

            async def create_and_push(name: str) -> None:
                async with gate:
                    body = {"company_name": name, "contact_name": "Ada Lovelace"}
                    reply = await client.post("/customers", json=body)
                    reply.raise_for_status()
                    cid = reply.json()["customer_id"]
                    push = await client.post(
                        f"/customers/{cid}/quickbooks/push", json={"realm_id": realm}
                    )
                    push.raise_for_status()

            first_call: list[float] = []

            async def watch_first_call() -> None:
                while emulator.request_count(realm) == 0:
                    await asyncio.sleep(0.02)
                first_call.append(time.monotonic())

            watcher = asyncio.create_task(watch_first_call())
            await create_and_push(names[0])  # sets the tenant up, then the rest at once
            await asyncio.gather(*(create_and_push(n) for n in names[1:]))
            await watcher
            started = first_call[0]
            while True:
                done = await pool.fetchval(
                    """SELECT count(*) FROM push_mappings
                        WHERE tenant_id = $1 AND status = 'synced'""",
                    tenant,
                )
                if done == customers:
                    break
                await asyncio.sleep(0.05)
            finished = time.monotonic()
            await client.aclose()
            statuses = await pool.fetch(
                "SELECT status, count(*) FROM push_mappings WHERE tenant_id = $1 GROUP BY 1",
                tenant,
            )

        calls = emulator.request_count(realm)
        throttled = emulator.throttled_count(realm)
        in_quickbooks = Counter(c["DisplayName"] for c in emulator.state(realm).values())
        creates = Counter(
            {
                key.partition(":")[2]: n
                for key, n in emulator.state()["creates_by_name"].items()
                if key.startswith(f"{realm}:")
            }
        )
        writes = [
            r
            for r in emulator.requests()
            if r.get("realm") == realm and r["method"] == "POST" and r["path"].endswith("/customer")
        ]
    wall = finished - started
    per_minute = calls / (wall / 60)
    duplicates = sum(n - 1 for n in creates.values() if n > 1)
    name_taken = sum(1 for r in writes if r["status"] == 400)
    replays = sum(1 for r in writes if r.get("replay"))
    print(f"customers pushed        {customers}")
    print(f"mapping statuses        {dict((r['status'], r['count']) for r in statuses)}")
    print(f"wall time               {wall:.1f} s (first QuickBooks call -> all synced)")
    print(f"calls made              {calls} ({calls / customers:.2f} per customer)")
    print(f"429s received           {throttled}")
    print(
        f"achieved calls/min      {per_minute:.1f} / limit {LIMIT_PER_MINUTE}"
        f" = {per_minute / LIMIT_PER_MINUTE:.1%}"
    )
    print(f"QuickBooks customers    {sum(in_quickbooks.values())}")
    print(f"creates reaching QBO    {sum(creates.values())} (for {len(creates)} names)")
    print(f"duplicates              {duplicates}")
    print(f"creates answered 6240   {name_taken}")
    print(f"requestid replays       {replays}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run(args.customers))


if __name__ == "__main__":
    main()
