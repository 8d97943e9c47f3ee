"""Billing ingest beside the machine's ceiling, a Kafka Streams peer and the simplest correct
consumer, all in the same run on the same stack.

    uv run python bench/billing_ingest.py [--events 100000] [--customers 1000] [--scale 1,2,3]
        [--profile profile.txt] [--skip-peer] [--simple-events 5000]

Needs the stack (reads $STACK_STATE_DIR/stack.env or .state/stack.env, or KAFKA_BOOTSTRAP_SERVERS
and DATABASE_URL), Java 17+ and Maven for the peer. Each phase gets its own schema, topics and
consumer group, so nothing else on the stack is touched.

0. Ceiling (bench/ceilings.py): the same messages produced by a transactional producer, read back
   and parsed with no other work, and one ledger-shaped row per message COPYd into a logged
   table. The ingest ceiling is the slower of consume + parse and COPY.
1. Billing: `python -m billing_service` runs as its own process (consumer + outbox relay, one
   transaction per poll). The bench streams N transaction events over K customers as fast as its
   producer can (2% re-sent with the same id, 1% under a new id with the same content) and times
   first send -> last ledger entry committed. Lag = the entry's commit time - its event time, per
   entry (commit times from `track_commit_timestamp`, which the local stack turns on; elsewhere a
   20 ms poller notes when each entry becomes visible). The producer mints each event at send
   time from data encoded beforehand, so the load generator takes as little of the 2 cores as it
   can from the consumer it measures.
2. Peer (bench/streams_peer.py): the Kafka Streams application, exactly_once_v2, two stream
   threads, fed the same workload the same way on a topic of its own; timed first send -> input
   offsets committed (its output is visible then). Its balances must equal billing's.
3. Paced: billing's lag at --rate facts/s.
4. Simple: one transaction and one offset commit per event (getone -> billing's own handler on
   that one event -> commit), on a pre-published backlog of M events, timed after a warm-up.
5. Scale-out (--scale): billing with 1, 2, 3 ... processes on the 6 partitions.
Events/s counts every message consumed (re-sends included) in every phase. Billing's phases end
by checking exactly-once effect: every balance equals the totals computed here from the source
events, and a recompute from the ledger finds no difference.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import ceilings
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from billing_sandbox import (
    CommitWatcher,
    Sandbox,
    start_service,
    wait_for_group,
)
from billing_workload import (
    Minter,
    Workload,
    build_workload,
    check_exactly_once,
    customer_envelopes,
    send,
    snapshot,
    stream,
)
from harness import free_port, load_env, machine_load, percentile
from streams_peer import Peer

from billing_service.handlers.apply_billing_events import ApplyBillingEvents
from billing_service.settings import Settings as BillingSettings
from billing_service.store.customers import upsert_customers
from platform_events import parse_event
from platform_kit.inbox import InboundEvent
from platform_kit.serve import tune_garbage_collector

BALANCE_COLUMNS = (
    "current_balance_minor",
    "total_invoiced_minor",
    "total_paid_minor",
    "total_refunded_minor",
    "total_credits_minor",
    "total_adjustments_minor",
)


def workload_records(w: Workload) -> list[ceilings.Record]:
    """The workload's messages as `stream` sends them (re-sends included), for the ceiling."""
    minter = Minter(w.tenant)
    records: list[ceilings.Record] = []
    for data, resend in w.items:
        prepared = minter.prepare(data)
        key = data.customer_id.encode()  # type: ignore[attr-defined]
        body, headers = minter.mint(prepared)
        records.append((body, key, headers))
        if resend == "same-id":
            records.append((body, key, headers))
        elif resend:
            records.append((*minter.mint(prepared)[:1], key, headers))
    return records


async def balances_of(pool: asyncpg.Pool, tenant: str) -> dict[str, tuple[int, ...]]:
    rows = await pool.fetch(
        f"SELECT customer_id, {', '.join(BALANCE_COLUMNS)} FROM balances WHERE tenant_id = $1",
        tenant,
    )
    return {r["customer_id"]: tuple(r[c] for c in BALANCE_COLUMNS) for r in rows}


def start_profiler(pids: list[int], out: str) -> subprocess.Popen[bytes]:
    """py-spy (dev group) sampling the billing process(es) while they ingest: raw collapsed
    stacks, one line per stack with its sample count; summarised by `summarise_profile`."""
    return subprocess.Popen(
        ["py-spy", "record", "--nonblocking", "--rate", "100", "--format", "raw",
         "--output", out, "--pid", str(pids[0])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def summarise_profile(path: str, top: int = 20) -> list[str]:
    """Share of CPU samples per function, inclusive and self, from py-spy's raw output (line
    numbers dropped, so a function counts once; the frames every sample shares are left out)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        inclusive.update(dict.fromkeys(frames, n))
        own[frames[-1]] += n
    shown = [(f, n) for f, n in inclusive.most_common() if n < 0.9 * total][:top]
    lines = ["  inclusive:"] + [f"  {n / total:6.1%}  {f}" for f, n in shown]
    lines += ["  self:"] + [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    return lines


async def set_based(
    bootstrap: str,
    dsn: str,
    n: int,
    customers: int,
    instances: int = 1,
    rate: float | None = None,
    profile: str | None = None,
) -> dict[str, Any]:
    box = Sandbox.new("batch")
    await box.create_topics(bootstrap)
    pool = await box.pool(dsn)
    w = build_workload(n, customers)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    await send(producer, box.customer_topic, customer_envelopes(w))
    await producer.stop()
    procs = [start_service(box.env(bootstrap, dsn, free_port())) for _ in range(instances)]
    watcher = CommitWatcher(pool, w.tenant)
    profiler = None
    try:
        while await pool.fetchval("SELECT count(*) FROM customers") < customers:
            await asyncio.sleep(0.1)
        await wait_for_group(
            bootstrap, box.consumer, instances * BillingSettings().consumer_members
        )
        await watcher.start()
        if profile:
            profiler = start_profiler([p.pid for p in procs], profile)
        first = await stream(bootstrap, box.tx_topic, w, rate=rate)
        sent_done = time.perf_counter()
        await watcher.wait_for(w.unique)
        if profiler:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(30)
        elapsed = watcher.last_visible - watcher.first_sent
        problems = await check_exactly_once(pool, w)
        balances = await balances_of(pool, w.tenant)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
    await box.drop(pool)
    return {
        "workload": w,
        "events_sent": w.sent,
        "unique_facts": w.unique,
        "events_per_s": w.sent / elapsed,
        "producer_s": sent_done - first,
        "lag_p50_ms": watcher.percentile(0.5) * 1000,
        "lag_p99_ms": watcher.percentile(0.99) * 1000,
        "problems": problems,
        "balances": balances,
    }


async def peer_run(bootstrap: str, w: Workload) -> dict[str, Any]:
    """The Streams peer on the same workload, streamed the same way to a topic of its own."""
    box = Sandbox.new("peer")
    await box.create_topics(bootstrap)
    peer = Peer(bootstrap, box.tx_topic)
    await peer.start()
    try:
        await wait_for_group(bootstrap, peer.application_id, peer.threads, timeout=120)
        sent_at = time.time()
        await stream(bootstrap, box.tx_topic, w)
        done_at = await peer.wait_done(w.sent)
        totals, lags = await peer.read_output()
    finally:
        peer.stop()
    return {
        "events_per_s": w.sent / (done_at - sent_at),
        "lag_p50_ms": percentile(lags, 50) * 1000,
        "lag_p99_ms": percentile(lags, 99) * 1000,
        "balances": {customer: figures[:6] for customer, figures in totals.items()},
    }


def same_balances(billing: dict[str, tuple[int, ...]], peer: dict[str, tuple[int, ...]]) -> str:
    if billing == peer:
        return f"equal for all {len(billing):,} customers"
    differing = sorted(c for c in billing.keys() | peer.keys() if billing.get(c) != peer.get(c))
    return f"DIFFERENT for {len(differing)} customers, e.g. " + ", ".join(
        f"{c}: billing {billing.get(c)} peer {peer.get(c)}" for c in differing[:3]
    )


async def simple(
    bootstrap: str, dsn: str, n: int, customers: int, warmup: int = 500
) -> dict[str, Any]:
    """The simplest correct consumer: one database transaction and one offset commit per event.

    Per event it does what the set-based consumer does per poll, with the same handler: inbox
    row, ledger entry, balance row, flags and outbox row (one inbox row per event). Timed after
    `warmup` events, so connection set-up and first-statement planning are not counted.
    """
    box = Sandbox.new("simple")
    await box.create_topics(bootstrap)
    pool = await box.pool(dsn)
    w = build_workload(n + warmup, customers, seed=11)
    # Customers straight into the tables: this phase times transactions only.
    async with pool.acquire() as conn, conn.transaction():
        await upsert_customers(
            conn, ((w.tenant, snapshot(c), datetime.now(UTC)) for c in w.customers)
        )
    await stream(bootstrap, box.tx_topic, w)
    consumer = AIOKafkaConsumer(
        box.tx_topic,
        bootstrap_servers=bootstrap,
        group_id=box.consumer,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    handler = ApplyBillingEvents()
    await consumer.start()
    seen = 0
    started = time.perf_counter()
    try:
        while seen < w.sent:
            record = await consumer.getone()
            envelope, data = parse_event(record.value)
            async with pool.acquire() as conn, conn.transaction():
                await handler.apply_batch(
                    conn, box.consumer, [InboundEvent(envelope, data, record)]
                )
            await consumer.commit()
            seen += 1
            if seen == warmup:
                started = time.perf_counter()
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
    problems = await check_exactly_once(pool, w)
    await box.drop(pool)
    timed = w.sent - warmup
    return {"events": timed, "events_per_s": timed / elapsed, "problems": problems}


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--simple-events", type=int, default=5000, help="timed, after 500 more")
    parser.add_argument(
        "--instances", type=int, default=1, help="billing processes in the consumer group"
    )
    parser.add_argument(
        "--rate", type=float, default=5000, help="items/s of the paced phase (lag under load)"
    )
    parser.add_argument("--seconds", type=float, default=10, help="length of the paced phase")
    parser.add_argument("--scale", default="", help="process counts for the scale-out curve")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-simple", action="store_true")
    parser.add_argument("--skip-paced", action="store_true")
    parser.add_argument("--profile", help="py-spy raw output file for one extra, profiled run")
    args = parser.parse_args()
    bootstrap, dsn = load_env()
    print(f"machine: {machine_load()} at start")

    w = build_workload(args.events, args.customers)
    ceiling = await ceilings.measure(bootstrap, dsn, workload_records(w))
    limit = min(ceiling.consume_parse, ceiling.copy_rows)
    print(f"ceiling on this stack, {w.sent:,} messages:")
    print("\n".join(ceiling.lines()))

    batch = await set_based(bootstrap, dsn, args.events, args.customers, args.instances)
    print(
        f"billing ({args.instances} process(es)): {batch['events_per_s']:,.0f} events/s over "
        f"{batch['events_sent']:,} events ({args.events:,} facts and their re-sends; "
        f"{batch['unique_facts']:,} applied) = {batch['events_per_s'] / limit:.0%} of the ceiling "
        f"({limit:,.0f}/s); lag p50 {batch['lag_p50_ms']:.0f} ms, p99 {batch['lag_p99_ms']:.0f} ms; "
        f"producer finished after {batch['producer_s']:.1f}s"
    )
    print(f"  exactly-once check: {'ok' if not batch['problems'] else batch['problems'][:5]}")

    if not args.skip_peer:
        peer = await peer_run(bootstrap, batch["workload"])
        print(
            f"Kafka Streams peer (exactly_once_v2, 2 threads): {peer['events_per_s']:,.0f} events/s "
            f"= {peer['events_per_s'] / limit:.0%} of the ceiling; lag (send -> appended) "
            f"p50 {peer['lag_p50_ms']:.0f} ms, p99 {peer['lag_p99_ms']:.0f} ms"
        )
        print(f"  balances, peer vs billing: {same_balances(batch['balances'], peer['balances'])}")
        print(f"  billing / peer: {batch['events_per_s'] / peer['events_per_s']:.2f}")

    if not args.skip_paced:
        paced = await set_based(
            bootstrap, dsn, int(args.rate * args.seconds), args.customers, args.instances, args.rate
        )
        print(
            f"billing paced at {args.rate:,.0f} facts/s for {args.seconds:.0f}s: lag p50 "
            f"{paced['lag_p50_ms']:.0f} ms, p99 {paced['lag_p99_ms']:.0f} ms "
            f"(send -> commit, {paced['events_sent']:,} events)"
        )
        print(f"  exactly-once check: {'ok' if not paced['problems'] else paced['problems'][:5]}")

    if not args.skip_simple:
        one = await simple(bootstrap, dsn, args.simple_events, args.customers)
        print(
            f"simple consumer (1 transaction + 1 commit per event): {one['events_per_s']:,.0f} "
            f"events/s over {one['events']:,} events; billing / simple: "
            f"{batch['events_per_s'] / one['events_per_s']:.1f}x"
        )
        print(f"  exactly-once check: {'ok' if not one['problems'] else one['problems'][:5]}")

    if args.scale:
        print("scale-out, billing processes on 6 partitions (2 consumer members each):")
        for count in (int(c) for c in args.scale.split(",")):
            run = await set_based(bootstrap, dsn, args.events, args.customers, count)
            check = "ok" if not run["problems"] else run["problems"][:3]
            print(
                f"  {count} process(es): {run['events_per_s']:,.0f} events/s "
                f"({run['events_per_s'] / limit:.0%} of the ceiling), lag p99 "
                f"{run['lag_p99_ms']:.0f} ms, exactly-once {check}"
            )

    if args.profile:
        await set_based(
            bootstrap, dsn, args.events, args.customers, args.instances, profile=args.profile
        )
        print(f"profile of one billing process over {args.events:,} events (inclusive share):")
        print("\n".join(summarise_profile(args.profile)))
    print(f"machine: {machine_load()} at end")


if __name__ == "__main__":
    # As the services run (platform_kit/serve.py): the ceiling is what the same runtime allows.
    tune_garbage_collector()
    uvloop.run(main())
