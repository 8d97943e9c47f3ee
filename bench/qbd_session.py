"""One QuickBooks Desktop Web Connector session: import 10,000 customers, push 1,000 new ones.

    uv run python bench/qbd_session.py [--customers 10000] [--pushes 1000] [--request-delay 0.1]

Needs PostgreSQL (reads .state/stack.env or DATABASE_URL). qb-sync's Web Connector endpoint runs
as its own process (uvicorn, qb-sync's migrations in a fresh schema) so its CPU time can be read
from /proc; the simulated Web Connector and company file run in this process. The company file
holds `--customers` customers and answers every message set after `--request-delay` seconds (our
assumption for QuickBooks Desktop answering one small qbXML message set over COM on the same
machine; the real figure depends on the PC and the company file).

One session carries both jobs: the refresh queued first (an iterated CustomerQueryRq, 100 per
page), then the `--pushes` customers, each a find-first query and a CustomerAddRq.

Prints, per phase (import, push): wall time, round trips (sendRequestXML/receiveResponseXML
pairs), qb-sync CPU seconds and CPU seconds per 1,000 customers, and the share of the wall time
the company file spent answering (the rest is qb-sync, PostgreSQL and HTTP). Also checks that
every customer was imported, every push linked, and that the company file holds no duplicate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from harness import free_port, load_env

from platform_kit.db import apply_migrations, create_pool, service_migrations
from qb_sync.domain.qbd.records import desktop_realm
from qb_sync.store.push.intent import request_push
from qb_sync.store.push.snapshots import save_snapshots
from qb_sync.store.qbd.connections import create_connection
from qb_sync.store.qbd.requests import enqueue
from qbd_simulator.company import CompanyFile
from qbd_simulator.connector import Qwc, WebConnector

OWNER_ID = "{6B0A1C2D-3E4F-4A5B-8C9D-0E1F2A3B4C5D}"
PASSWORD = "bench-password"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def serve(database_url: str, schema: str, port: int) -> None:
    """The endpoint process: qb-sync's Web Connector router over the bench schema."""
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager
    from types import SimpleNamespace

    import uvicorn
    from fastapi import FastAPI

    from qb_sync.api.qbd import web_connector
    from qb_sync.settings import Settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(database_url, schema, min_size=1, max_size=4)
        settings = Settings(database_url=database_url, log_level="WARNING")
        app.state.runtime = SimpleNamespace(db=pool, settings=settings)
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)
    app.include_router(web_connector.router)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def cpu_seconds(pid: int) -> float:
    fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields_[11]) + int(fields_[12])) / CLOCK_TICKS  # utime + stime


@dataclass
class Phase:
    started: float = 0.0
    cpu_at_start: float = 0.0
    round_trips: int = 0
    quickbooks_seconds: float = 0.0
    ended: float = 0.0
    cpu_at_end: float = 0.0


@dataclass
class Meter:
    """Wraps the company file: which phase each message set belongs to, and its time."""

    pid: int
    phases: dict[str, Phase] = field(default_factory=lambda: {"import": Phase(), "push": Phase()})
    current: str = ""

    def enter(self, name: str) -> Phase:
        if self.current != name:
            now, cpu = time.perf_counter(), cpu_seconds(self.pid)
            if self.current:
                self.phases[self.current].ended, self.phases[self.current].cpu_at_end = now, cpu
            self.phases[name].started, self.phases[name].cpu_at_start = now, cpu
            self.current = name
        return self.phases[name]

    def close(self) -> None:
        phase = self.phases[self.current]
        phase.ended, phase.cpu_at_end = time.perf_counter(), cpu_seconds(self.pid)


def company_with(customers: int, delay: float, meter: Meter) -> CompanyFile:
    company = CompanyFile()
    for i in range(customers):
        company.seed_customer(f"Imported {i:05d}", CompanyName=f"Imported {i:05d} Ltd")
    company.request_delay = delay
    process = company.process

    def metered(qbxml: str) -> str:
        phase = meter.enter("import" if "iterator=" in qbxml else "push")
        phase.round_trips += 1
        started = time.perf_counter()
        try:
            return process(qbxml)
        finally:
            phase.quickbooks_seconds += time.perf_counter() - started

    company.process = metered  # type: ignore[method-assign]
    return company


async def prepare(dsn: str, schema: str, pushes: int) -> tuple[str, str, str]:
    pool = await create_pool(dsn, schema, min_size=1, max_size=2)
    try:
        await apply_migrations(pool, schema, service_migrations("qb_sync.migrations"))
        async with pool.acquire() as conn:
            connection = await create_connection(conn, "bench", "bench-qbd", PASSWORD, OWNER_ID)
            await enqueue(conn, connection.connection_id, "customer_import")
            realm = desktop_realm(connection.connection_id)
            snapshots = [
                {"customer_id": str(uuid.uuid4()), "version": 1, "display_name": f"New {i:04d}",
                 "company_name": f"New {i:04d} Ltd", "email": f"ap{i}@new.test", "active": True}
                for i in range(pushes)
            ]  # fmt: skip
            async with conn.transaction():
                await save_snapshots(conn, [("bench", s) for s in snapshots])
                for s in snapshots:
                    await request_push(conn, "bench", realm, s["customer_id"], "bench")
        return connection.username, connection.file_id, realm
    finally:
        await pool.close()


async def check(dsn: str, schema: str, customers: int, pushes: int) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'SET search_path TO "{schema}"')
        imported = await conn.fetchval(
            "SELECT count(*) FROM qbd_customers WHERE full_name LIKE 'Imported %'"
        )
        synced = await conn.fetchval(
            "SELECT count(*) FROM push_mappings WHERE status = 'synced' AND qb_customer_id IS NOT NULL"
        )
        return int(imported), int(synced)
    finally:
        await conn.close()


async def drop(dsn: str, schema: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def report(name: str, phase: Phase, customers: int) -> None:
    wall = phase.ended - phase.started
    cpu = phase.cpu_at_end - phase.cpu_at_start
    print(
        f"{name:6} {customers:6d} customers  {wall:8.1f} s  {phase.round_trips:5d} round trips  "
        f"qb-sync CPU {cpu:6.1f} s = {cpu / max(customers, 1) * 1000:5.2f} s per 1,000  "
        f"QuickBooks answering {phase.quickbooks_seconds / max(wall, 1e-9):4.0%} of the time"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--pushes", type=int, default=1_000)
    parser.add_argument("--request-delay", type=float, default=0.1)
    parser.add_argument(
        "--serve", nargs=3, metavar=("DSN", "SCHEMA", "PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return 0
    _, dsn = load_env()
    schema = f"bench_qbd_{uuid.uuid4().hex[:8]}"
    username, file_id, _ = asyncio.run(prepare(dsn, schema, args.pushes))
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", dsn, schema, str(port)])
    try:
        url = f"http://127.0.0.1:{port}/qbwc"
        for _ in range(100):
            try:
                import requests

                requests.get(f"{url}?wsdl", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        meter = Meter(server.pid)
        print(f"seeding a company file with {args.customers} customers ...", flush=True)
        company = company_with(args.customers, args.request_delay, meter)
        connector = WebConnector(
            Qwc(url, username, OWNER_ID, file_id), PASSWORD, company,
            max_round_trips=args.customers // 50 + args.pushes * 3 + 100, timeout=120,
        )  # fmt: skip
        started = time.perf_counter()
        session = connector.run()
        meter.close()
        total = time.perf_counter() - started
        imported, synced = asyncio.run(check(dsn, schema, args.customers, args.pushes))
        names = company.full_names()
        print(f"one Web Connector session: outcome {session.outcome!r}, {total:.1f} s, "
              f"{session.methods.count('sendRequestXML')} sendRequestXML calls, "
              f"request delay {args.request_delay} s per message set")  # fmt: skip
        report("import", meter.phases["import"], args.customers)
        report("push", meter.phases["push"], args.pushes)
        print(f"imported {imported}/{args.customers}, pushed and linked {synced}/{args.pushes}, "
              f"duplicates in the company file: {len(names) - len({n.casefold() for n in names})}")  # fmt: skip
        return 0 if session.outcome == "done" and synced == args.pushes else 1
    finally:
        server.terminate()
        server.wait(10)
        asyncio.run(drop(dsn, schema))


if __name__ == "__main__":
    sys.exit(main())
