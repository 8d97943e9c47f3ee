"""Billing's HTTP API and the credit-limit / overdue flags, against the real stack."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from billing_service.domain.facts import fact_from_event
from billing_service.handlers.sweep_flags import sweep_once
from billing_service.store.ledger import write_facts
from billing_service.store.recompute import differences
from platform_events.contracts import billing as ev
from platform_events.contracts.customer import CustomerUpdated
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
    snapshot,
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


async def test_concurrent_identical_payments_record_once(billing: BillingUnderTest) -> None:
    """A client retrying after a timeout: the requests overlap. One records, the others get the
    same answer as a duplicate; a different body under the same key is a conflict."""
    tenant = new_tenant()
    await given_customers(billing, tenant, customer_created("c1"))
    headers = {**await billing.token(tenant), "idempotency-key": "pay-race"}
    body = {"amount_minor": 1_234, "currency": "USD", "method": "card"}
    url = "/v1/customers/c1/payments"
    answers = await asyncio.gather(
        *(billing.client.post(url, json=body, headers=headers) for _ in range(6)),
        billing.client.post(url, json={**body, "amount_minor": 999}, headers=headers),
    )
    codes = sorted(a.status_code for a in answers)
    same = [a for a in answers[:6] if a.status_code in (200, 201)]
    if answers[6].status_code == 201:  # the other body won the race: the six are conflicts
        assert codes == [201, *([409] * 6)], [a.text for a in answers]
    else:
        assert codes == [200] * 5 + [201, 409], [a.text for a in answers]
        assert len({a.json()["entry_id"] for a in same}) == 1
    row = await billing.pool.fetchrow(
        "SELECT entry_count, total_paid_minor FROM balances WHERE tenant_id = $1", tenant
    )
    assert row["entry_count"] == 1 and row["total_paid_minor"] in (1_234, 999)


async def test_an_order_named_twice_is_refused_by_the_api(billing: BillingUnderTest) -> None:
    tenant = new_tenant()
    await given_customers(billing, tenant, customer_created("c1"))
    twice = [{"order_id": "o1", "amount_minor": 100}, {"order_id": "o1", "amount_minor": 100}]
    answer = await billing.client.post(
        "/v1/customers/c1/payments",
        json={"payment_id": "p-2x", "amount_minor": 500, "currency": "USD", "allocations": twice},
        headers=await billing.token(tenant),
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "payment_rejected"
    assert "o1 more than once" in answer.json()["error"]["message"]
    assert not await billing.pool.fetchval(
        "SELECT count(*) FROM ledger_entries WHERE tenant_id = $1", tenant
    )


async def test_credit_limit_events_only_on_crossing_and_on_a_new_limit(
    billing: BillingUnderTest,
) -> None:
    tenant = new_tenant()
    tail = TopicTail(billing.bootstrap, "billing.balances")
    await tail.start()

    def of(kind: type, **data: object):  # type: ignore[no-untyped-def]
        def match(r) -> bool:  # type: ignore[no-untyped-def]
            h = decode_headers(r.headers)
            body = json.loads(r.value)["data"]
            return (
                h.get("tenant_id") == tenant
                and h.get("ce_type") == kind.event_type  # type: ignore[attr-defined]
                and all(body.get(k) == v for k, v in data.items())
            )

        return match

    try:
        await given_customers(billing, tenant, customer_created("c1", credit_limit_minor=1_000))
        await given_entries(billing, tenant, [invoice("c1", "i1", 1_500)])
        over = await tail.collect(of(ev.CreditLimitExceeded), 1)
        assert json.loads(over[0].value)["data"]["exceeded"] is True

        # Still over after a second invoice and a small payment: nothing new is emitted. The
        # payment's BalanceChanged comes after (same key, same partition) anything before it.
        await given_entries(billing, tenant, [invoice("c1", "i2", 300)])
        await given_entries(billing, tenant, [payment("c1", "p1", 100)])
        assert await tail.collect(of(ev.BalanceChanged, current_balance_minor=1_700), 1)
        assert await tail.collect(of(ev.CreditLimitExceeded), 1, timeout=0) == []

        # A new limit arrives as a customer event: re-evaluated at once, both ways.
        raised = CustomerUpdated(
            customer=snapshot("c1", credit_limit_minor=5_000, version=2),
            changed_fields=["credit_limit_minor"],
        )
        await publish(billing.bootstrap, billing.customer_topic, [envelope(raised, tenant)])
        under = await tail.collect(of(ev.CreditLimitExceeded), 1)
        assert json.loads(under[0].value)["data"] == {
            "customer_id": "c1",
            "currency": "USD",
            "credit_limit_minor": 5_000,
            "current_balance_minor": 1_700,
            "exceeded": False,
        }
        lowered = CustomerUpdated(
            customer=snapshot("c1", credit_limit_minor=1_600, version=3),
            changed_fields=["credit_limit_minor"],
        )
        await publish(billing.bootstrap, billing.customer_topic, [envelope(lowered, tenant)])
        again = await tail.collect(of(ev.CreditLimitExceeded), 1)
        assert json.loads(again[0].value)["data"]["exceeded"] is True
    finally:
        await tail.stop()


async def test_the_sweep_waits_for_the_consumer_and_never_flags_from_a_stale_balance(
    billing: BillingUnderTest,
) -> None:
    """The sweep finds an account whose invoice just fell due while a writer is paying it off.
    It must wait for that writer and judge the paid balance: no overdue flag, no event."""
    tenant = new_tenant()
    await given_customers(billing, tenant, customer_created("c1"))
    due = date.today()
    await given_entries(billing, tenant, [invoice("c1", "i1", 700, due=due)])
    later = due + timedelta(days=3)

    writer = await asyncpg.connect(billing.settings.database_url)
    sweeper = await asyncpg.create_pool(
        billing.settings.database_url,
        min_size=1,
        max_size=1,
        server_settings={
            "search_path": billing.settings.billing_schema,
            "application_name": f"sweep-{tenant}",
        },
    )
    try:
        await writer.execute(f'SET search_path TO "{billing.settings.billing_schema}"')
        tx = writer.transaction()
        await tx.start()
        pay = fact_from_event(
            payment("c1", "p1", 700),
            event_id=uuid.uuid4(),
            tenant_id=tenant,
            occurred_at=datetime.now(UTC),
        )
        await write_facts(writer, billing.settings.consumer_name, [pay], today=due)
        sweep = asyncio.create_task(
            sweep_once(sweeper, billing.settings.billing_schema, today=later)
        )

        async def sweep_is_waiting() -> bool:
            return bool(
                await billing.pool.fetchval(
                    """SELECT count(*) FROM pg_stat_activity
                       WHERE application_name = $1 AND wait_event_type = 'Lock'""",
                    f"sweep-{tenant}",
                )
            )

        await wait_for(sweep_is_waiting)
        await tx.commit()
        await sweep
    finally:
        await writer.close()
        await sweeper.close()
    row = await billing.pool.fetchrow(
        "SELECT current_balance_minor, overdue FROM balances WHERE tenant_id = $1", tenant
    )
    assert (row["current_balance_minor"], row["overdue"]) == (0, False)


async def test_the_sweep_works_in_chunks_and_visits_only_accounts_that_can_change(
    billing: BillingUnderTest,
) -> None:
    tenant = new_tenant()
    await given_customers(billing, tenant, *(customer_created(f"c{i}") for i in range(5)))
    due = date.today() + timedelta(days=1)
    await given_entries(
        billing,
        tenant,
        [invoice(f"c{i}", f"i{i}", 100 + i, due=due) for i in range(4)]
        + [invoice("c4", "i4", 50)],  # no due date: never overdue, never visited
    )
    candidates = """SELECT customer_id FROM balances
                    WHERE tenant_id = $1 AND next_due_check <= $2 ORDER BY 1"""
    day = due + timedelta(days=1)
    assert [r[0] for r in await billing.pool.fetch(candidates, tenant, day)] == [
        "c0",
        "c1",
        "c2",
        "c3",
    ]
    await sweep_once(billing.pool, billing.settings.billing_schema, today=day, chunk=1)
    rows = await billing.pool.fetch(
        "SELECT customer_id, overdue, overdue_amount_minor FROM balances WHERE tenant_id = $1 ORDER BY 1",
        tenant,
    )
    assert [tuple(r) for r in rows] == [
        ("c0", True, 100),
        ("c1", True, 101),
        ("c2", True, 102),
        ("c3", True, 103),
        ("c4", False, 0),
    ]
    assert await billing.pool.fetch(candidates, tenant, day + timedelta(days=365)) == []


async def test_one_payment_id_for_two_customers_at_once_is_a_conflict_not_a_server_error(
    billing: BillingUnderTest,
) -> None:
    """The payment id is unique per tenant, but each writer locks only its own customer: a
    request for c1 that overlaps a writer of the same payment id for c2 must get the answer a
    later request gets (409, nothing recorded), not a unique-key error from the database."""
    tenant = new_tenant()
    await given_customers(billing, tenant, customer_created("c1"), customer_created("c2"))
    writer = await asyncpg.connect(billing.settings.database_url)
    try:
        await writer.execute(f'SET search_path TO "{billing.settings.billing_schema}"')
        tx = writer.transaction()
        await tx.start()
        theirs = fact_from_event(
            payment("c2", "shared-key", 1_000),
            event_id=uuid.uuid4(),
            tenant_id=tenant,
            occurred_at=datetime.now(UTC),
        )
        await write_facts(writer, billing.settings.consumer_name, [theirs], today=date.today())
        request = asyncio.create_task(
            billing.client.post(
                "/v1/customers/c1/payments",
                json={"amount_minor": 1_000, "currency": "USD"},
                headers={**await billing.token(tenant), "idempotency-key": "shared-key"},
            )
        )

        async def request_waits_for_the_writer() -> bool:
            return bool(
                await billing.pool.fetchval(
                    """SELECT count(*) FROM pg_stat_activity
                       WHERE datname = current_database() AND wait_event_type = 'Lock'
                         AND query LIKE 'COPY%'"""
                )
            )

        await wait_for(request_waits_for_the_writer)
        await tx.commit()
        answer = await request
    finally:
        await writer.close()
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "idempotency_conflict"
    assert answer.json()["error"]["existing_entry_id"] == str(theirs.entry_id)
    rows = await billing.pool.fetch(
        "SELECT customer_id, total_paid_minor FROM balances WHERE tenant_id = $1", tenant
    )
    assert [tuple(r) for r in rows] == [("c2", 1_000)]


async def test_a_forged_cursor_out_of_range_is_a_bad_cursor_not_a_server_error(
    billing: BillingUnderTest,
) -> None:
    tenant = new_tenant()
    await given_customers(billing, tenant, customer_created("c1"))
    headers = await billing.token(tenant, "read")
    forged = base64.urlsafe_b64encode(f"seq:{2**63}".encode()).decode()
    answer = await billing.client.get(
        "/v1/customers/c1/transactions", params={"cursor": forged}, headers=headers
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["fields"][0]["field"] == "cursor"


async def test_a_reversal_waiting_for_its_payment_applies_when_the_api_records_the_payment(
    billing: BillingUnderTest,
) -> None:
    """A chargeback can reach billing before the desk records the payment it reverses: it waits
    for the payment. When that payment comes through the API (not as an event), the reversal
    must apply with it, not wait for ever while the account shows the payment as received."""
    tenant = new_tenant()
    await given_customers(billing, tenant, customer_created("c1"))
    await given_entries(billing, tenant, [invoice("c1", "i1", 2_000, order_id="o1")])
    chargeback = envelope(
        ev.PaymentReversed(customer_id="c1", payment_id="pay-cb", reason="chargeback"), tenant
    )
    await publish(billing.bootstrap, billing.tx_topic, [chargeback])
    headers = {**await billing.token(tenant), "idempotency-key": "pay-cb"}

    async def pending() -> list[str]:
        page = (await billing.client.get("/v1/pending", headers=headers)).json()["items"]
        return [i["event_id"] for i in page]

    assert await wait_for(pending) == [str(chargeback.id)]
    body = {
        "amount_minor": 2_000,
        "currency": "USD",
        "allocations": [{"order_id": "o1", "amount_minor": 2_000}],
    }
    answer = await billing.client.post("/v1/customers/c1/payments", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    account = answer.json()["accounts"][0]
    assert (account["current_balance_minor"], account["total_paid_minor"]) == (2_000, 0)
    assert await pending() == []
    orders = (await billing.client.get("/v1/customers/c1/orders", headers=headers)).json()
    assert orders["items"] == [
        {
            "currency": "USD",
            "order_id": "o1",
            "order_total_minor": 2_000,
            "paid_minor": 0,
            "remaining_minor": 2_000,
        }
    ]
    assert await differences(billing.pool) == []
