"""The operator's view of parked transactions, across every tenant (GET /v1/pending shows one
tenant's to its own callers; a tenant that does not exist has no caller to ask).

    python -m billing_service.parked                 # everything parked, oldest first
    python -m billing_service.parked --expire        # dead-letter what waited too long, now

Each line is JSON: tenant, customer, event, what it waits for, since when, and when it will be
dead-lettered (`parked_max_wait_seconds`, 7 days unless set). Reads DATABASE_URL and
BILLING_SCHEMA like the service.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from billing_service.handlers.expire_parked import expire_parked_once
from billing_service.settings import Settings
from platform_kit.db import create_pool


async def run(settings: Settings, expire: bool, limit: int) -> None:
    pool = await create_pool(settings.database_url, settings.billing_schema, min_size=1, max_size=1)
    try:
        if expire:
            n = await expire_parked_once(
                pool, settings.consumer_name, settings.parked_max_wait_seconds
            )
            print(f"dead-lettered {n} parked transactions", file=sys.stderr)
        rows = await pool.fetch(
            """SELECT tenant_id, customer_id, event_id, waits_for, kafka_headers, topic,
                      kafka_partition, kafka_offset, parked_at,
                      parked_at + make_interval(secs => $1) AS dead_letter_at
               FROM pending_transactions ORDER BY seq LIMIT $2""",
            settings.parked_max_wait_seconds,
            limit,
        )
    finally:
        await pool.close()
    for r in rows:
        headers = dict(json.loads(r["kafka_headers"]))
        print(
            json.dumps(
                {
                    "tenant_id": r["tenant_id"],
                    "customer_id": r["customer_id"],
                    "event_id": str(r["event_id"]),
                    "event_type": headers.get("ce_type"),
                    "waits_for": r["waits_for"],
                    "source": f"{r['topic']}[{r['kafka_partition']}]@{r['kafka_offset']}",
                    "parked_at": r["parked_at"].isoformat(),
                    "dead_letter_at": r["dead_letter_at"].isoformat(),
                }
            )
        )
    print(f"{len(rows)} parked", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--expire", action="store_true", help="dead-letter the expired ones first")
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run(Settings(), args.expire, args.limit))


if __name__ == "__main__":
    main()
