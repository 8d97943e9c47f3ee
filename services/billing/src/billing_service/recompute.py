"""Recompute every balance from the ledger and report any difference from the stored rows.

    python -m billing_service.recompute            # exit status 1 when a difference is found

Reads DATABASE_URL and BILLING_SCHEMA like the service. It reports; it never rewrites balances,
because a difference means a bug to understand first (see docs/decisions/0004-billing-ledger.md).
"""

from __future__ import annotations

import asyncio
import json
import sys

from billing_service.settings import Settings
from billing_service.store.recompute import differences
from platform_kit.db import apply_migrations, create_pool, service_migrations


async def run(settings: Settings) -> int:
    pool = await create_pool(settings.database_url, settings.billing_schema, min_size=1, max_size=1)
    try:
        # Safe and idempotent: lets the check run before the service ever started.
        await apply_migrations(
            pool, settings.billing_schema, service_migrations("billing_service.migrations")
        )
        diffs = await differences(pool)
        accounts = await pool.fetchval("SELECT count(*) FROM balances")
    finally:
        await pool.close()
    for diff in diffs:
        print(json.dumps(diff, default=str))
    print(f"checked {accounts} accounts: {len(diffs)} differ from the ledger", file=sys.stderr)
    return 1 if diffs else 0


def main() -> None:
    sys.exit(asyncio.run(run(Settings())))


if __name__ == "__main__":
    main()
