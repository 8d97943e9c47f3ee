"""Billing's ingest and the outbox relay from several git revisions, alternating, on one stack:
what moving the consumers onto FastStream cost, measured in one run.

    uv run python bench/faststream_before_after.py [--events 50000] [--customers 1000]
        [--rounds 2] [--revisions REV,REV,...] [--skip-relay]

Each revision is checked out into a temporary `git worktree` (under the system temp dir, removed
at the end) and measured with its own code: the bench's own phase functions of that revision
(`billing_ingest.set_based`: `python -m billing_service` as its own process on a schema, topics
and consumer group of its own, N events streamed over K customers, first send -> last ledger
entry committed, then the exactly-once check; `outbox_relay.relay_throughput`: N outbox rows
drained to a topic), run in a child process whose PYTHONPATH puts that revision's sources ahead
of this checkout's. The venv (uv.lock) is this checkout's: every revision compared imports
only packages it still has. Rounds alternate the revisions (A B C D, A B C D, ...) so drift of
the machine's load spreads over all of them; the figures are each revision's median.

The default revisions isolate the two FastStream steps, each against its own parent:
- 39acb78^ (the hand-driven aiokafka loop) vs 39acb78 (FastStream hosts the kit's poll cycle,
  nothing else changed in that commit);
- 79165dd (main before the services became FastStream applications) vs HEAD (they are).
Comparing across the pairs would mix in everything else that changed in between.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import load_env, machine_load

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REVISIONS = "39acb78^,39acb78,79165dd,HEAD"
SOURCES = ("bench", "libs/kit/src", "libs/events/src", "services/billing/src")

# Run inside the child, in the revision's bench directory.
BILLING = """
import asyncio, json, sys
import billing_ingest
billing_ingest.free_port = lambda: {port}  # the HTTP port, from the range this bench may use
result = asyncio.run(billing_ingest.set_based({bootstrap!r}, {dsn!r}, {events}, {customers}, 1))
print("RESULT " + json.dumps({{
    "events_per_s": result["events_per_s"],
    "events": result["events_sent"],
    "problems": len(result["problems"]),
}}))
"""
RELAY = """
import asyncio, json
import outbox_relay
rate = asyncio.run(outbox_relay.relay_throughput({bootstrap!r}, {dsn!r}, {events}))
print("RESULT " + json.dumps({{"events_per_s": rate, "events": {events}, "problems": 0}}))
"""


def resolve(revision: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", revision],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def checkout(commit: str, into: Path) -> Path:
    tree = into / commit
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(tree), commit],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return tree


def remove(tree: Path) -> None:
    subprocess.run(
        ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True
    )


def measure(tree: Path, script: str) -> dict[str, float]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(tree / s) for s in SOURCES),
        "LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tree / "bench",
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line.removeprefix("RESULT "))  # type: ignore[no-any-return]
    raise RuntimeError(f"{tree.name}: no result\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--relay-events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--revisions", default=DEFAULT_REVISIONS)
    parser.add_argument("--skip-relay", action="store_true")
    parser.add_argument("--port", type=int, default=18800, help="billing's HTTP port")
    args = parser.parse_args()
    bootstrap, dsn = load_env()
    names = args.revisions.split(",")
    commits = [resolve(name) for name in names]
    print(f"machine: {machine_load()} at start")
    phases = {
        "billing ingest": BILLING.format(
            bootstrap=bootstrap,
            dsn=dsn,
            events=args.events,
            customers=args.customers,
            port=args.port,
        )
    }
    if not args.skip_relay:
        phases["outbox relay"] = RELAY.format(
            bootstrap=bootstrap, dsn=dsn, events=args.relay_events
        )
    figures: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="faststream-before-after-") as temp:
        trees = {commit: checkout(commit, Path(temp)) for commit in dict.fromkeys(commits)}
        try:
            for round_ in range(1, args.rounds + 1):
                for phase, script in phases.items():
                    for name, commit in zip(names, commits, strict=True):
                        result = measure(trees[commit], script)
                        figures.setdefault((phase, name), []).append(result["events_per_s"])
                        print(
                            f"round {round_} {phase:14} {name:>10} ({commit}): "
                            f"{result['events_per_s']:8,.0f} events/s over "
                            f"{int(result['events']):,} events, "
                            f"exactly-once problems {int(result['problems'])}; {machine_load()}",
                            flush=True,
                        )
        finally:
            for tree in trees.values():
                remove(tree)
    print("median events/s per revision:")
    for phase in phases:
        row = [f"{name} {statistics.median(figures[(phase, name)]):,.0f}" for name in names]
        print(f"  {phase:14}: " + " | ".join(row))
    for phase in phases:
        for before, after in zip(names[::2], names[1::2], strict=False):
            b = statistics.median(figures[(phase, before)])
            a = statistics.median(figures[(phase, after)])
            print(f"  {phase:14}: {after} / {before} = {a / b:.3f} ({a / b - 1:+.1%})")
    print(f"machine: {machine_load()} at end")


if __name__ == "__main__":
    main()
