"""The BalanceChanged events PostgreSQL builds (store/balances.py) read as the contract says.

The relay publishes the outbox's payload and headers as they are, so what a reader of
billing.balances gets is exactly these rows: they must parse as the contract's envelope and
`BalanceChanged`, carry the headers `kafka_headers` derives from that envelope, and number each
customer's events one after another in outbox order.
"""

from __future__ import annotations

import json

import asyncpg
import pytest

from platform_events import parse_event
from platform_events.contracts import billing
from platform_events.topics import topic_for_event
from platform_events.wire import kafka_headers
from tests.billing.support import (
    customer_created,
    envelope,
    inbound,
    invoice,
    new_tenant,
    payment,
    run_poll,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
CONSUMER = "billing-balance-events-test"


async def test_balance_changed_rows_are_contract_events_numbered_per_customer(
    db: asyncpg.Pool,
) -> None:
    tenant = new_tenant()
    facts = [envelope(customer_created(c), tenant) for c in ("c-1", "c-2")]
    first = [
        envelope(invoice("c-1", "inv-1", 1_000), tenant),
        envelope(invoice("c-2", "inv-2", 700), tenant),
    ]
    first[0] = first[0].model_copy(update={"correlation_id": "req-42"})
    second = [envelope(payment("c-1", "pay-1", 400), tenant)]
    await run_poll(db, CONSUMER, [inbound(e, "customers", i) for i, e in enumerate(facts)])
    assert not await run_poll(db, CONSUMER, [inbound(e, "tx", i) for i, e in enumerate(first)])
    assert not await run_poll(db, CONSUMER, [inbound(e, "tx", 9) for e in second])

    rows = await db.fetch(
        "SELECT topic, key, headers, payload FROM outbox WHERE headers->>'ce_type' = $1 ORDER BY id",
        billing.BalanceChanged.event_type,
    )
    read = [(r, *parse_event(bytes(r["payload"]))) for r in rows]
    assert [(env.subject, env.sequence, data) for _, env, data in read] == [
        (
            "c-1",
            1,
            billing.BalanceChanged(
                customer_id="c-1",
                currency="USD",
                current_balance_minor=1_000,
                total_invoiced_minor=1_000,
                total_paid_minor=0,
                total_refunded_minor=0,
                total_credits_minor=0,
                total_adjustments_minor=0,
                caused_by_entry=str(
                    await db.fetchval(
                        "SELECT entry_id FROM ledger_entries WHERE reference_id = 'inv-1'"
                    )
                ),
            ),
        ),
        ("c-2", 1, read[1][2]),
        ("c-1", 2, read[2][2]),
    ]
    assert read[2][2].current_balance_minor == 600 and read[2][2].total_paid_minor == 400
    by_cause = {env.causation_id: env for _, env, _ in read}
    assert set(by_cause) == {str(first[0].id), str(first[1].id), str(second[0].id)}
    assert by_cause[str(first[0].id)].correlation_id == "req-42"
    assert by_cause[str(first[1].id)].correlation_id is None
    for row, env, _ in read:
        assert (env.source, env.tenant_id) == ("billing", tenant)
        assert row["topic"] == topic_for_event(billing.BalanceChanged.event_type).name
        assert row["key"] == env.subject
        assert json.loads(row["headers"]) == kafka_headers(env)
