"""The recompute check finds a stored balance that drifted from the ledger, and says so."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import asyncpg
import pytest

from billing_service.store.recompute import differences
from tests.billing.support import (
    customer_created,
    envelope,
    inbound,
    invoice,
    ledger_schema,
    new_tenant,
    payment,
    run_poll,
)

pytestmark = pytest.mark.integration


async def recompute_cli(database_url: str, schema: str) -> tuple[int, list[dict[str, object]]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "billing_service.recompute",
        env={**os.environ, "DATABASE_URL": database_url, "BILLING_SCHEMA": schema},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, [json.loads(line) for line in out.decode().splitlines()]


async def test_a_corrupted_balance_is_reported_and_the_command_fails(database_url: str) -> None:
    async with ledger_schema(database_url) as pool:
        schema = await pool.fetchval("SELECT current_schema()")
        tenant = new_tenant()
        events = [
            envelope(customer_created("c1"), tenant),
            envelope(customer_created("c2"), tenant),
            envelope(invoice("c1", "i1", 10_000), tenant),
            envelope(payment("c1", "p1", 2_500), tenant),
            envelope(invoice("c2", "i2", 400), tenant),
        ]
        topics = ["customer.events"] * 2 + ["billing.transactions"] * 3
        await run_poll(
            pool, "billing", [inbound(e, t) for e, t in zip(events, topics, strict=True)]
        )
        assert await differences(pool) == []
        assert await recompute_cli(database_url, schema) == (0, [])

        await corrupt(pool, tenant)
        found = await differences(pool)
        assert [
            (d["customer_id"], d["stored_total_paid_minor"], d["ledger_total_paid_minor"])
            for d in found
        ] == [
            ("c1", 2_499, 2_500),
            ("c2", None, 0),
        ]
        code, printed = await recompute_cli(database_url, schema)
        assert code == 1
        assert [(d["customer_id"], d["stored_current_balance_minor"]) for d in printed] == [
            ("c1", 7_501),
            ("c2", None),  # entries with no stored balance at all
        ]


async def corrupt(pool: asyncpg.Pool, tenant: str) -> None:
    await pool.execute(
        """UPDATE balances SET current_balance_minor = current_balance_minor + 1,
               total_paid_minor = total_paid_minor - 1
           WHERE tenant_id = $1 AND customer_id = 'c1'""",
        tenant,
    )
    await pool.execute("DELETE FROM balances WHERE tenant_id = $1 AND customer_id = 'c2'", tenant)
