"""FastStream hosts the kit's poll cycle: an error escaping a batch must not let a later commit
move past records that were never handled."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.integration.test_consumer_recovery import committed_offsets
from tests.integration.test_inbox_consumer import counts_table, make_runner, voided  # noqa: F401
from tests.support.kafka_io import publish_raw

pytestmark = pytest.mark.integration


async def test_an_error_escaping_a_batch_seeks_back_and_every_record_is_applied_once(
    counts_table: asyncpg.Pool,  # noqa: F811
    kafka_bootstrap: str,
    test_topic: str,
) -> None:
    customers = [f"cust-{i}" for i in range(12)]
    await publish_raw(kafka_bootstrap, test_topic, [voided(c, "inv-1") for c in customers])
    runner = make_runner(counts_table, kafka_bootstrap, test_topic)
    failures = []
    fill = runner._fill

    async def fill_failing_once(consumer, batches):  # type: ignore[no-untyped-def]
        if not failures:
            failures.append(sum(len(r) for r in batches.values()))
            raise RuntimeError("escaped from the batch handler")
        await fill(consumer, batches)

    runner._fill = fill_failing_once  # type: ignore[method-assign]
    runner.start()
    try:
        await runner.started.wait()
        await _until(lambda: _count(counts_table), len(customers))
        # Later records are applied and committed too; the failed batch is not skipped by that.
        await publish_raw(kafka_bootstrap, test_topic, [voided(c, "inv-2") for c in customers])
        await _until(lambda: _total(counts_table), 2 * len(customers))
    finally:
        await runner.stop()
    assert failures and failures[0] > 0, "the failure was not injected into a real batch"
    rows = await counts_table.fetch("SELECT customer_id, n FROM counts ORDER BY customer_id")
    assert {r["customer_id"]: r["n"] for r in rows} == {c: 2 for c in customers}
    committed = await committed_offsets(kafka_bootstrap, runner.group_id)
    assert sum(committed.values()) == 2 * len(customers)


async def _count(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM counts"))


async def _total(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT coalesce(sum(n), 0) FROM counts"))


async def _until(measure, target: int, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while (value := await measure()) < target:
        assert asyncio.get_running_loop().time() < deadline, f"stuck at {value} of {target}"
        await asyncio.sleep(0.1)
