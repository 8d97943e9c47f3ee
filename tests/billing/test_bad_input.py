"""Billing refuses what it cannot store, at the HTTP edge and on Kafka, and changes nothing."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from platform_kit.kafka import decode_headers
from tests.billing.conftest import BillingUnderTest
from tests.billing.support import envelope, invoice, new_tenant, payment, publish, wait_for
from tests.billing.test_ingest_rules import balance_row, inbox_has, setup_customer
from tests.support.kafka_io import read_all

pytestmark = pytest.mark.integration

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
BIGINT_MAX = 2**63 - 1


async def stored_state(b: BillingUnderTest, tenant: str) -> tuple[object, ...]:
    """Everything billing stores for one tenant, to compare before and after a refusal."""
    return (
        await b.pool.fetch(
            "SELECT * FROM ledger_entries WHERE tenant_id = $1 ORDER BY seq", tenant
        ),
        await b.pool.fetch("SELECT * FROM balances WHERE tenant_id = $1", tenant),
        await b.pool.fetch("SELECT * FROM rejections WHERE tenant_id = $1", tenant),
    )


@pytest.mark.parametrize(
    "params",
    [
        {"from": "0001-01-01T00:00:00+14:00"},
        {"to": "9999-12-31T23:59:59-14:00"},
        {"to": "0.5"},
        {"from": "1700000000"},
        {"from": "2026-01-01T00:00:00"},  # no offset: which day is that?
    ],
)
async def test_transaction_filters_refuse_times_the_database_cannot_take(
    billing: BillingUnderTest, params: dict[str, str]
) -> None:
    tenant = new_tenant()
    await setup_customer(billing, tenant, "c1")
    headers = await billing.token(tenant, "read")
    answer = await billing.client.get(
        "/v1/customers/c1/transactions", params=params, headers=headers
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["fields"][0]["field"] in ("query.from", "query.to")


async def test_history_times_are_rfc3339_and_a_payment_shows_no_order_id(
    billing: BillingUnderTest,
) -> None:
    tenant = new_tenant()
    await setup_customer(billing, tenant, "c1")
    headers = await billing.token(tenant)
    await billing.client.post(
        "/v1/customers/c1/payments",
        json={
            "payment_id": "p-1",
            "amount_minor": 500,
            "currency": "USD",
            "allocations": [{"order_id": "o1", "amount_minor": 500}],
        },
        headers=headers,
    )
    history = await billing.client.get("/v1/customers/c1/transactions", headers=headers)
    [item] = history.json()["items"]
    assert item["entry_type"] == "payment"
    assert RFC3339.match(item["effective_at"]) and RFC3339.match(item["recorded_at"]), item
    assert "order_id" not in item and "reverses_entry_id" not in item
    # The edge of the calendar that does exist in UTC is a fine filter.
    ok = await billing.client.get(
        "/v1/customers/c1/transactions",
        params={"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"},
        headers=headers,
    )
    assert ok.status_code == 200 and len(ok.json()["items"]) == 1


async def test_a_payment_that_would_overflow_the_balance_is_refused_and_nothing_changes(
    billing: BillingUnderTest,
) -> None:
    tenant = new_tenant()
    await setup_customer(billing, tenant, "c1")
    headers = await billing.token(tenant)
    first = await billing.client.post(
        "/v1/customers/c1/payments",
        json={"payment_id": "p-1", "amount_minor": 1_000, "currency": "USD"},
        headers=headers,
    )
    assert first.status_code == 201
    # Many payments later: the paid total is a payment away from what a bigint holds.
    await billing.pool.execute(
        "UPDATE balances SET total_paid_minor = $2::bigint, current_balance_minor = -$2::bigint"
        " WHERE tenant_id = $1",
        tenant,
        BIGINT_MAX - 10,
    )
    before = await stored_state(billing, tenant)
    answer = await billing.client.post(
        "/v1/customers/c1/payments",
        json={"payment_id": "p-2", "amount_minor": 1_000, "currency": "USD"},
        headers=headers,
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "payment_rejected"
    assert "largest amount" in answer.json()["error"]["message"]
    assert await stored_state(billing, tenant) == before
    # Put back what the ledger says, so the suite's ledger-vs-balance checks see no forged tenant.
    await billing.pool.execute(
        "UPDATE balances SET total_paid_minor = 1000, current_balance_minor = -1000"
        " WHERE tenant_id = $1",
        tenant,
    )


async def test_bad_text_in_requests_is_refused_before_it_reaches_the_ledger(
    billing: BillingUnderTest,
) -> None:
    tenant = new_tenant()
    await setup_customer(billing, tenant, "c1")
    headers = await billing.token(tenant)
    before = await stored_state(billing, tenant)
    url = "/v1/customers/c1/payments"
    answers = [
        await billing.client.post(
            url,
            json={"payment_id": "p\x00", "amount_minor": 5, "currency": "USD"},
            headers=headers,
        ),
        await billing.client.post(
            url,
            content=b'{"payment_id": "p-\\ud800", "amount_minor": 5, "currency": "USD"}',
            headers={**headers, "content-type": "application/json"},
        ),
        await billing.client.post(
            url,
            json={"amount_minor": 5, "currency": "USD"},
            headers={**headers, "idempotency-key": "k\x00"},
        ),
        await billing.client.get("/v1/customers/c1%00/balance", headers=headers),
        await billing.client.get(
            "/v1/customers/c1/transactions", params={"order_id": "o\x00"}, headers=headers
        ),
        await billing.client.get(
            "/v1/customers/c1/transactions",
            params={"cursor": "c2VxOu2ggA=="},  # "seq:" and a lone surrogate's bytes
            headers=headers,
        ),
    ]
    assert [a.status_code for a in answers] == [422] * len(answers), [a.text for a in answers]
    assert all("error" in a.json() for a in answers)
    assert await stored_state(billing, tenant) == before


async def test_a_chunked_payment_body_over_the_limit_is_413(billing: BillingUnderTest) -> None:
    tenant = new_tenant()
    headers = await billing.token(tenant)

    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"note": "'
        for _ in range(300):
            yield b"x" * 4096
        yield b'"}'

    answer = await billing.client.post(
        "/v1/customers/c1/payments",
        content=chunks(),
        headers={**headers, "content-type": "application/json"},
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "payload_too_large"


async def test_bad_data_on_kafka_is_dead_lettered_with_a_reason_and_the_partition_moves_on(
    billing: BillingUnderTest,
) -> None:
    tenant = new_tenant()
    await setup_customer(billing, tenant, "c1")
    nul = json.loads(envelope(payment("c1", "p-nul", 100), tenant).model_dump_json())
    nul["data"]["note"] = "bad\u0000note"
    early = json.loads(envelope(invoice("c1", "i-early", 100), tenant).model_dump_json())
    early["time"] = "0001-01-01T00:00:00+14:00"
    huge = json.loads(envelope(invoice("c1", "i-huge", 100), tenant).model_dump_json())
    huge["sequence"] = 2**70
    bad = [nul, early, huge]
    fine = envelope(invoice("c1", "i-fine", 700), tenant)
    producer = AIOKafkaProducer(bootstrap_servers=billing.bootstrap, acks="all")
    await producer.start()
    try:
        for event in bad:  # one key, so one partition: the fine event comes after them
            await producer.send_and_wait(
                billing.tx_topic,
                json.dumps(event).encode(),
                key=b"c1",
                headers=[("ce_id", event["id"].encode())],
            )
    finally:
        await producer.stop()
    await publish(billing.bootstrap, billing.tx_topic, [fine])
    await wait_for(lambda: inbox_has(billing, [fine.id]))
    ids = {e["id"] for e in bad}
    dead = [
        decode_headers(r.headers)
        for r in await read_all(billing.bootstrap, f"{billing.tx_topic}.dlq", 50, timeout=5)
    ]
    reasons = {h.get("ce_id"): h["dlq-reason"] for h in dead if h.get("ce_id") in ids}
    assert set(reasons) == ids, reasons
    assert "NUL" in reasons[nul["id"]]
    assert "UTC" in reasons[early["id"]]
    assert "sequence" in reasons[huge["id"]]
    assert (await balance_row(billing, tenant, "c1"))["current_balance_minor"] == 700
    assert not await inbox_has(billing, [uuid.UUID(i) for i in ids])
