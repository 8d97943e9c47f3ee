"""The ledger's rules against the real broker and database: once-only, conflicts, refusals."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid

import pytest

from billing_service.store.recompute import differences
from platform_events.contracts import billing as ev
from platform_events.contracts.customer import CustomerInactivated, CustomerReactivated
from platform_kit.kafka import decode_headers
from tests.billing.conftest import BillingUnderTest, running_billing
from tests.billing.support import (
    TopicTail,
    customer_created,
    envelope,
    invoice,
    money,
    new_tenant,
    payment,
    publish,
    snapshot,
    wait_for,
)
from tests.support.kafka_io import read_all

pytestmark = pytest.mark.integration


async def balance_row(b: BillingUnderTest, tenant: str, customer: str, currency: str = "USD"):  # type: ignore[no-untyped-def]
    return await b.pool.fetchrow(
        "SELECT * FROM balances WHERE tenant_id = $1 AND customer_id = $2 AND currency = $3",
        tenant,
        customer,
        currency,
    )


async def setup_customer(b: BillingUnderTest, tenant: str, customer: str, **kw: object) -> None:
    await publish(
        b.bootstrap, b.customer_topic, [envelope(customer_created(customer, **kw), tenant)]
    )
    await wait_for(
        lambda: b.pool.fetchval(
            "SELECT true FROM customers WHERE tenant_id = $1 AND customer_id = $2", tenant, customer
        )
    )


async def inbox_has(b: BillingUnderTest, ids: list[uuid.UUID]) -> bool:
    n = await b.pool.fetchval(
        "SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
        b.settings.consumer_name,
        ids,
    )
    return bool(n == len(set(ids)))


async def test_duplicates_by_id_and_by_natural_key_apply_once(billing: BillingUnderTest) -> None:
    tenant, cust = new_tenant(), "c1"
    await setup_customer(billing, tenant, cust)
    first = envelope(invoice(cust, "inv-1", 10_000, order_id="o-1"), tenant)
    resent_same_id = first
    resent_new_id = envelope(invoice(cust, "inv-1", 10_000, order_id="o-1"), tenant)
    pay = envelope(payment(cust, "pay-1", 2_500), tenant)
    await publish(
        billing.bootstrap, billing.tx_topic, [first, resent_same_id, resent_new_id, pay, pay]
    )
    await wait_for(lambda: inbox_has(billing, [first.id, resent_new_id.id, pay.id]))

    row = await balance_row(billing, tenant, cust)
    assert row["current_balance_minor"] == 7_500
    assert row["total_invoiced_minor"] == 10_000
    assert row["total_paid_minor"] == 2_500
    assert row["entry_count"] == 2
    assert (
        await billing.pool.fetchval("SELECT count(*) FROM conflicts WHERE tenant_id = $1", tenant)
        == 0
    )


async def test_same_natural_key_with_other_content_is_parked_not_applied(
    billing: BillingUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    tenant, cust = new_tenant(), "c1"
    await setup_customer(billing, tenant, cust)
    original = envelope(payment(cust, "pay-9", 5_000), tenant)
    await publish(billing.bootstrap, billing.tx_topic, [original])
    await wait_for(lambda: inbox_has(billing, [original.id]))
    changed = envelope(payment(cust, "pay-9", 7_000), tenant)
    await publish(billing.bootstrap, billing.tx_topic, [changed])
    await wait_for(lambda: inbox_has(billing, [changed.id]))

    row = await balance_row(billing, tenant, cust)
    assert row["current_balance_minor"] == -5_000
    parked = await billing.pool.fetch("SELECT * FROM conflicts WHERE tenant_id = $1", tenant)
    assert [(p["event_id"], p["idempotency_key"]) for p in parked] == [
        (changed.id, "payment:pay-9")
    ]
    headers = await billing.token(tenant, "read")
    listed = (await billing.client.get("/v1/conflicts", headers=headers)).json()["items"]
    assert [c["event_id"] for c in listed] == [str(changed.id)]
    # An operator sees it in the logs too, with what to look at.
    logged = [r.getMessage() for r in caplog.records if "conflict parked" in r.getMessage()]
    assert any(str(changed.id) in m and "payment:pay-9" in m for m in logged), logged


async def test_currency_mismatch_is_dead_lettered_never_converted(
    billing: BillingUnderTest,
) -> None:
    tenant, cust = new_tenant(), "c1"
    await setup_customer(billing, tenant, cust, currency="USD")
    euros = envelope(invoice(cust, "inv-eur", 9_999, currency="EUR"), tenant)
    fine = envelope(invoice(cust, "inv-usd", 1_000), tenant)
    await publish(billing.bootstrap, billing.tx_topic, [euros, fine])
    await wait_for(lambda: inbox_has(billing, [fine.id]))
    await wait_for(
        lambda: billing.pool.fetchval("SELECT true FROM rejections WHERE event_id = $1", euros.id)
    )
    dead = [
        r
        for r in await read_all(billing.bootstrap, f"{billing.tx_topic}.dlq", 1, timeout=5)
        if decode_headers(r.headers).get("ce_id") == str(euros.id)
    ]
    assert dead and "currency EUR does not match" in decode_headers(dead[0].headers)["dlq-reason"]
    assert json.loads(dead[0].value)["id"] == str(euros.id)  # the original bytes
    assert (await balance_row(billing, tenant, cust))["current_balance_minor"] == 1_000
    assert await balance_row(billing, tenant, cust, "EUR") is None
    assert not await inbox_has(billing, [euros.id])  # so a replay after a fix can apply it


async def test_inactive_customer_refuses_invoices_but_takes_payments(
    billing: BillingUnderTest,
) -> None:
    tenant, cust = new_tenant(), "c1"
    await setup_customer(billing, tenant, cust)
    tail = TopicTail(billing.bootstrap, "billing.balances")
    await tail.start()
    try:
        inactive = CustomerInactivated(customer=snapshot(cust, active=False, version=2))
        await publish(billing.bootstrap, billing.customer_topic, [envelope(inactive, tenant)])
        await wait_for(
            lambda: billing.pool.fetchval(
                "SELECT NOT active FROM customers WHERE tenant_id = $1 AND customer_id = $2",
                tenant,
                cust,
            )
        )
        refused = envelope(invoice(cust, "inv-late", 4_000), tenant)
        pay = envelope(payment(cust, "pay-1", 1_000), tenant)
        refund = envelope(
            ev.RefundIssued(customer_id=cust, refund_id="r-1", amount=money(300)), tenant
        )
        credit = envelope(
            ev.CreditApplied(customer_id=cust, credit_id="cr-1", amount=money(200)), tenant
        )
        await publish(billing.bootstrap, billing.tx_topic, [refused, pay, refund, credit])
        await wait_for(lambda: inbox_has(billing, [pay.id, refund.id, credit.id]))
        row = await balance_row(billing, tenant, cust)
        assert row["current_balance_minor"] == -1_000 + 300 - 200
        assert row["total_invoiced_minor"] == 0

        def is_rejection(r) -> bool:  # type: ignore[no-untyped-def]
            h = decode_headers(r.headers)
            return (
                h.get("tenant_id") == tenant
                and h.get("ce_type") == ev.BillingTransactionRejected.event_type
            )

        found = await tail.collect(is_rejection, 1)
        data = json.loads(found[0].value)["data"]
        assert data["rejected_event_id"] == str(refused.id)
        assert "inactive" in data["reason"]
    finally:
        await tail.stop()


async def test_void_and_reversal_are_new_entries_referencing_the_original(
    billing: BillingUnderTest,
) -> None:
    tenant, cust = new_tenant(), "c1"
    await setup_customer(billing, tenant, cust)
    events = [
        envelope(invoice(cust, "inv-1", 5_000, order_id="o-1"), tenant),
        envelope(invoice(cust, "inv-2", 3_000, order_id="o-2"), tenant),
        envelope(
            payment(cust, "p-1", 4_000, allocations=[{"order_id": "o-1", "amount_minor": 4_000}]),
            tenant,
        ),
        envelope(ev.InvoiceVoided(customer_id=cust, invoice_id="inv-2"), tenant),
        envelope(
            ev.PaymentReversed(customer_id=cust, payment_id="p-1", reason="chargeback"), tenant
        ),
        envelope(
            ev.AdjustmentPosted(
                customer_id=cust, adjustment_id="a-1", amount=money(-150), reason="goodwill"
            ),
            tenant,
        ),
    ]
    await publish(billing.bootstrap, billing.tx_topic, events)
    await wait_for(lambda: inbox_has(billing, [e.id for e in events]))
    row = await balance_row(billing, tenant, cust)
    assert row["current_balance_minor"] == 5_000 - 150
    assert (row["total_invoiced_minor"], row["total_paid_minor"]) == (5_000, 0)
    assert row["total_adjustments_minor"] == -150
    corrections = await billing.pool.fetch(
        """SELECT c.entry_type, c.amount_minor, o.entry_type AS corrects
           FROM ledger_entries c JOIN ledger_entries o ON c.reverses_entry_id = o.entry_id
           WHERE c.tenant_id = $1 ORDER BY c.seq""",
        tenant,
    )
    assert [tuple(r) for r in corrections] == [
        ("invoice_void", -3_000, "invoice"),
        ("payment_reversal", 4_000, "payment"),
    ]
    headers = await billing.token(tenant, "read")
    orders = (await billing.client.get(f"/v1/customers/{cust}/orders", headers=headers)).json()
    assert orders["items"] == [
        {
            "currency": "USD",
            "order_id": "o-1",
            "order_total_minor": 5_000,
            "paid_minor": 0,
            "remaining_minor": 5_000,
        }
    ]
    assert await differences(billing.pool) == []


async def test_an_order_named_twice_in_allocations_is_refused_with_the_reason(
    billing: BillingUnderTest,
) -> None:
    """Refused as a rule (not a database error retried into the DLQ): ambiguous allocations."""
    tenant, cust = new_tenant(), "c1"
    await setup_customer(billing, tenant, cust)
    tail = TopicTail(billing.bootstrap, "billing.balances")
    await tail.start()
    try:
        twice = envelope(
            payment(
                cust,
                "pay-2x",
                500,
                allocations=[
                    {"order_id": "o-1", "amount_minor": 200},
                    {"order_id": "o-1", "amount_minor": 300},
                ],
            ),
            tenant,
        )
        await publish(billing.bootstrap, billing.tx_topic, [twice])

        def rejected(r) -> bool:  # type: ignore[no-untyped-def]
            h = decode_headers(r.headers)
            return h.get("tenant_id") == tenant and h.get("ce_type") == (
                ev.BillingTransactionRejected.event_type
            )

        found = await tail.collect(rejected, 1)
        assert found, "no BillingTransactionRejected"
        assert json.loads(found[0].value)["data"]["reason"] == (
            "allocations name order o-1 more than once"
        )
    finally:
        await tail.stop()
    dead = [
        decode_headers(r.headers)
        for r in await read_all(billing.bootstrap, f"{billing.tx_topic}.dlq", 1, timeout=5)
        if decode_headers(r.headers).get("ce_id") == str(twice.id)
    ]
    assert [(h["dlq-error-type"], h["dlq-attempts"]) for h in dead] == [("PermanentError", "1")]
    assert await balance_row(billing, tenant, cust) is None


async def replay_dead_letters(bootstrap: str, dlq_topic: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "platform_kit.dlq",
        "replay",
        dlq_topic,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    return out.decode()


async def test_refused_invoice_replayed_after_reactivation_applies_once(
    database_url: str, kafka_bootstrap: str
) -> None:
    """inactive -> invoice refused (DLQ + one BillingTransactionRejected) -> replay while still
    inactive (dead-lettered again, no second event) -> reactivate -> replay -> applied once."""
    async with running_billing(database_url, kafka_bootstrap) as b:
        tenant, cust = new_tenant(), "c1"
        await setup_customer(b, tenant, cust)
        await publish(
            b.bootstrap,
            b.customer_topic,
            [
                envelope(
                    CustomerInactivated(customer=snapshot(cust, active=False, version=2)), tenant
                )
            ],
        )
        await wait_for(
            lambda: b.pool.fetchval("SELECT NOT active FROM customers WHERE tenant_id = $1", tenant)
        )
        tail = TopicTail(b.bootstrap, "billing.balances")
        await tail.start()
        dlq = f"{b.tx_topic}.dlq"
        try:
            refused = envelope(invoice(cust, "inv-r", 2_500), tenant)
            await publish(b.bootstrap, b.tx_topic, [refused])

            async def letters() -> int:
                records = await read_all(b.bootstrap, dlq, 10, timeout=0.5)
                return sum(
                    decode_headers(r.headers).get("ce_id") == str(refused.id) for r in records
                )

            await wait_for(lambda: letters())
            headers = await b.token(tenant, "read")
            listed = (await b.client.get("/v1/rejections", headers=headers)).json()["items"]
            assert [r["event_id"] for r in listed] == [str(refused.id)]

            assert "replayed 1 " in await replay_dead_letters(b.bootstrap, dlq)
            await wait_for(lambda: _equals(letters(), 2))  # the cause persists: refused again

            await publish(
                b.bootstrap,
                b.customer_topic,
                [envelope(CustomerReactivated(customer=snapshot(cust, version=3)), tenant)],
            )
            await wait_for(
                lambda: b.pool.fetchval("SELECT active FROM customers WHERE tenant_id = $1", tenant)
            )
            assert "replayed 1 " in await replay_dead_letters(b.bootstrap, dlq)
            await wait_for(lambda: balance_row(b, tenant, cust))
            row = await balance_row(b, tenant, cust)
            assert (row["current_balance_minor"], row["entry_count"]) == (2_500, 1)

            def of_tenant(kind: str):  # type: ignore[no-untyped-def]
                def match(r) -> bool:  # type: ignore[no-untyped-def]
                    h = decode_headers(r.headers)
                    return h.get("tenant_id") == tenant and h.get("ce_type") == kind

                return match

            # The BalanceChanged follows, on the same partition, anything emitted before it.
            assert await tail.collect(of_tenant(ev.BalanceChanged.event_type), 1)
            rejections = await tail.collect(
                of_tenant(ev.BillingTransactionRejected.event_type), 10, timeout=0
            )
            assert [json.loads(r.value)["data"]["rejected_event_id"] for r in rejections] == [
                str(refused.id)
            ]
        finally:
            await tail.stop()
        assert (await b.client.get("/v1/rejections", headers=headers)).json()["items"] == []
        resolved = (
            await b.client.get(
                "/v1/rejections", params={"include_resolved": "true"}, headers=headers
            )
        ).json()["items"]
        assert [(r["event_id"], r["resolved_at"] is not None) for r in resolved] == [
            (str(refused.id), True)
        ]


async def _equals(value, expected: object) -> bool:  # type: ignore[no-untyped-def]
    return bool(await value == expected)
