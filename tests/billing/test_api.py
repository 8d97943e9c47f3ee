"""Billing's HTTP API and the credit-limit / overdue flags, against the real stack."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from billing_service.handlers.sweep_flags import sweep_once
from platform_events.contracts import billing as ev
from platform_kit.kafka import decode_headers
from tests.billing.conftest import BillingUnderTest
from tests.billing.support import (
    TopicTail,
    customer_created,
    envelope,
    invoice,
    money,
    new_tenant,
    payment,
    publish,
    wait_for,
)

pytestmark = pytest.mark.integration


async def given_customers(b: BillingUnderTest, tenant: str, *created) -> None:  # type: ignore[no-untyped-def]
    await publish(b.bootstrap, b.customer_topic, [envelope(c, tenant) for c in created])
    await wait_for(
        lambda: b.pool.fetchval(
            "SELECT count(*) = $2 FROM customers WHERE tenant_id = $1", tenant, len(created)
        )
    )


async def given_entries(b: BillingUnderTest, tenant: str, items: list) -> None:  # type: ignore[type-arg]
    envs = [envelope(i, tenant) for i in items]
    await publish(b.bootstrap, b.tx_topic, envs)
    await wait_for(
        lambda: b.pool.fetchval(
            "SELECT count(*) = $2 FROM inbox WHERE consumer = $3 AND event_id = ANY($1::uuid[])",
            [e.id for e in envs],
            len(envs),
            b.settings.consumer_name,
        )
    )


async def test_record_payment_is_idempotent_like_the_event(billing: BillingUnderTest) -> None:
    tenant = new_tenant()
    await given_customers(billing, tenant, customer_created("c1"))
    await given_entries(billing, tenant, [invoice("c1", "i1", 10_000, order_id="o1")])
    headers = {**await billing.token(tenant), "idempotency-key": "pay-77"}
    body = {
        "amount_minor": 4_000,
        "currency": "USD",
        "method": "card",
        "allocations": [{"order_id": "o1", "amount_minor": 4_000}],
        "note": "front desk",
    }
    url = "/v1/customers/c1/payments"
    first = await billing.client.post(url, json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["accounts"][0]["current_balance_minor"] == 6_000
    again = await billing.client.post(url, json=body, headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["entry_id"] == first.json()["entry_id"]
    other = await billing.client.post(url, json={**body, "amount_minor": 5_000}, headers=headers)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"

    # The same payment arriving as an event (new event id, same content) is a duplicate too.
    same_as_event = payment(
        "c1",
        "pay-77",
        4_000,
        method="card",
        note="front desk",
        allocations=[{"order_id": "o1", "amount_minor": 4_000}],
    )
    await given_entries(billing, tenant, [same_as_event])
    summary = (await billing.client.get("/v1/customers/c1/balance", headers=headers)).json()
    assert summary["accounts"][0]["current_balance_minor"] == 6_000
    assert summary["accounts"][0]["total_paid_minor"] == 4_000
    orders = (await billing.client.get("/v1/customers/c1/orders", headers=headers)).json()
    assert orders["items"][0] == {
        "currency": "USD",
        "order_id": "o1",
        "order_total_minor": 10_000,
        "paid_minor": 4_000,
        "remaining_minor": 6_000,
    }

    euros = await billing.client.post(
        url, json={**body, "currency": "EUR"}, headers={**headers, "idempotency-key": "pay-eur"}
    )
    assert euros.status_code == 422 and euros.json()["error"]["code"] == "payment_rejected"
    missing_key = await billing.client.post(url, json=body, headers=await billing.token(tenant))
    assert missing_key.status_code == 422


async def test_tokens_and_tenancy(billing: BillingUnderTest) -> None:
    tenant, stranger = new_tenant(), new_tenant()
    await given_customers(billing, tenant, customer_created("c1"))
    assert (await billing.client.get("/v1/customers/c1/balance")).status_code == 401
    theirs = await billing.token(stranger)
    assert (await billing.client.get("/v1/customers/c1/balance", headers=theirs)).status_code == 404
    read_only = await billing.token(tenant, "read")
    posted = await billing.client.post(
        "/v1/customers/c1/payments",
        json={"payment_id": "p", "amount_minor": 1, "currency": "USD"},
        headers=read_only,
    )
    assert posted.status_code == 403
    floaty = await billing.client.post(
        "/v1/customers/c1/payments",
        json={"payment_id": "p", "amount_minor": 10.5, "currency": "USD"},
        headers=await billing.token(tenant),
    )
    assert floaty.status_code == 422  # money is never a float


async def test_history_filters_and_keyset_pages(billing: BillingUnderTest) -> None:
    tenant = new_tenant()
    await given_customers(billing, tenant, customer_created("c1"))
    items = [invoice("c1", f"i{i}", 100 + i, order_id=f"o{i % 2}") for i in range(7)]
    items += [payment("c1", f"p{i}", 10) for i in range(3)]
    await given_entries(billing, tenant, items)
    headers = await billing.token(tenant, "read")
    seen, cursor = [], None
    while True:
        params = {"limit": 3, "type": "invoice", **({"cursor": cursor} if cursor else {})}
        page = (
            await billing.client.get(
                "/v1/customers/c1/transactions", params=params, headers=headers
            )
        ).json()
        seen += [i["reference_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(f"i{i}" for i in range(7)) and len(seen) == 7
    by_order = (
        await billing.client.get(
            "/v1/customers/c1/transactions", params={"order_id": "o1"}, headers=headers
        )
    ).json()["items"]
    assert {i["reference_id"] for i in by_order} == {"i1", "i3", "i5"}
    payments = (
        await billing.client.get(
            "/v1/customers/c1/transactions", params={"type": ["payment", "refund"]}, headers=headers
        )
    ).json()["items"]
    assert [i["amount_minor"] for i in payments] == [-10, -10, -10]


async def test_parent_balance_includes_sub_customers(billing: BillingUnderTest) -> None:
    tenant = new_tenant()
    await given_customers(
        billing,
        tenant,
        customer_created("parent"),
        customer_created("branch", parent_id="parent"),
        customer_created("desk", parent_id="branch"),
        customer_created("other"),
    )
    await given_entries(
        billing,
        tenant,
        [
            invoice("parent", "a", 100),
            invoice("branch", "b", 20),
            invoice("desk", "c", 3),
            invoice("other", "d", 5_000),
        ],
    )
    headers = await billing.token(tenant, "read")
    tree = (
        await billing.client.get(
            "/v1/customers/parent/balance/including-sub-customers", headers=headers
        )
    ).json()
    assert tree["customer_ids"] == ["branch", "desk", "parent"]
    assert tree["accounts"][0]["current_balance_minor"] == 123


async def test_credit_limit_and_overdue_events_on_change_and_by_sweep(
    billing: BillingUnderTest,
) -> None:
    tenant = new_tenant()
    tail = TopicTail(billing.bootstrap, "billing.balances")
    await tail.start()
    try:
        await given_customers(billing, tenant, customer_created("c1", credit_limit_minor=1_000))
        past = date.today() - timedelta(days=5)
        await given_entries(billing, tenant, [invoice("c1", "i1", 1_500, due=past)])

        def of(kind: type) -> object:
            def match(r) -> bool:  # type: ignore[no-untyped-def]
                h = decode_headers(r.headers)
                return h.get("tenant_id") == tenant and h.get("ce_type") == kind.event_type  # type: ignore[attr-defined]

            return match

        over = await tail.collect(of(ev.CreditLimitExceeded), 1)  # type: ignore[arg-type]
        assert json.loads(over[0].value)["data"]["exceeded"] is True
        overdue = await tail.collect(of(ev.OverdueChanged), 1)  # type: ignore[arg-type]
        data = json.loads(overdue[0].value)["data"]
        assert (data["overdue"], data["overdue_amount_minor"]) == (True, 1_500)
        assert data["currency"] == "USD"  # overdue is per account (customer, currency)
        assert data["oldest_due_date"] == past.isoformat()

        await given_entries(billing, tenant, [payment("c1", "p1", 1_500)])
        settled = await tail.collect(of(ev.OverdueChanged), 1)  # type: ignore[arg-type]
        assert json.loads(settled[0].value)["data"]["overdue"] is False
        under = await tail.collect(of(ev.CreditLimitExceeded), 1)  # type: ignore[arg-type]
        assert json.loads(under[0].value)["data"]["exceeded"] is False

        # The calendar alone makes an invoice overdue: only the sweep can notice.
        due = date.today() + timedelta(days=2)
        await given_entries(billing, tenant, [invoice("c1", "i2", 200, due=due)])
        row = await billing.pool.fetchrow(
            "SELECT overdue, next_due_check FROM balances WHERE tenant_id = $1", tenant
        )
        assert row["overdue"] is False and row["next_due_check"] == due + timedelta(days=1)
        later = due + timedelta(days=1)
        assert await sweep_once(billing.pool, billing.settings.billing_schema, today=later) >= 1
        swept = await tail.collect(of(ev.OverdueChanged), 1)  # type: ignore[arg-type]
        data = json.loads(swept[0].value)["data"]
        assert (data["overdue_amount_minor"], data["currency"]) == (200, "USD")
        # Nothing more can change by the calendar alone: the account leaves the sweep's set.
        assert (
            await billing.pool.fetchval(
                "SELECT next_due_check FROM balances WHERE tenant_id = $1", tenant
            )
            is None
        )
    finally:
        await tail.stop()


async def test_refund_and_credit_move_the_balance(billing: BillingUnderTest) -> None:
    tenant = new_tenant()
    await given_customers(billing, tenant, customer_created("c1"))
    await given_entries(
        billing,
        tenant,
        [
            invoice("c1", "i", 100),
            payment("c1", "p", 100),
            ev.RefundIssued(customer_id="c1", refund_id="r", amount=money(10)),
        ],
    )
    headers = await billing.token(tenant, "read")
    account = (await billing.client.get("/v1/customers/c1/balance", headers=headers)).json()
    # Kill Bill's case: paid 100 then refunded 10 leaves a balance of 10.
    assert account["accounts"][0]["current_balance_minor"] == 10
    assert account["accounts"][0]["total_refunded_minor"] == 10
