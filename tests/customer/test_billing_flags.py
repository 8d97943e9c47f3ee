"""Billing's flags through the real broker: billing keeps overdue and credit-limit state per account
(customer, currency) with a sequence per account, so the flags must too."""

from __future__ import annotations

import uuid

from platform_events.contracts.billing import CreditLimitExceeded, OverdueChanged
from tests.customer.billing_events import publish_and_wait
from tests.customer.conftest import Tenant, minimal_customer
from tests.customer.test_quickbooks import filled_directory, qb_customer


def overdue(cid: str, flag: bool, currency: str | None) -> OverdueChanged:
    return OverdueChanged(customer_id=cid, overdue=flag, currency=currency)


def over_limit(cid: str, flag: bool, currency: str) -> CreditLimitExceeded:
    return CreditLimitExceeded(
        customer_id=cid,
        currency=currency,
        credit_limit_minor=1000,
        current_balance_minor=2000 if flag else 0,
        exceeded=flag,
    )


async def flags_of(tenant: Tenant, cid: str) -> tuple[bool, bool, bool]:
    """(overdue on the detail view, listed under overdue=true, listed under overdue=false)."""
    detail = (await tenant.client.get(f"/customers/{cid}")).json()["overdue"]

    async def listed(flag: bool) -> bool:
        page = await tenant.client.get("/customers", params={"overdue": flag})
        return cid in [c["customer_id"] for c in page.json()["items"]]

    return detail, await listed(True), await listed(False)


async def test_overdue_is_kept_per_currency_and_shown_when_any_currency_is(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    cid = (await tenant.client.post("/customers", json=minimal_customer(currency="USD"))).json()[
        "customer_id"
    ]

    async def send(*items: tuple[OverdueChanged, int]) -> None:
        await publish_and_wait(kafka_bootstrap, customer_db, tenant.tenant_id, cid, list(items))

    # CAD's sequence 2 is behind USD's 5, yet it is CAD's newest; USD's "not overdue" leaves CAD.
    await send(
        (overdue(cid, True, "USD"), 5),
        (overdue(cid, True, "CAD"), 2),
        (overdue(cid, False, "USD"), 6),
    )
    assert await flags_of(tenant, cid) == (True, True, False)

    # An event without a currency is about the customer's own currency (USD here).
    await send(
        (overdue(cid, True, None), 7),
        (overdue(cid, False, "CAD"), 3),
        (overdue(cid, False, "USD"), 4),  # stale for USD (7 seen): dropped
    )
    assert await flags_of(tenant, cid) == (True, True, False)

    await send((overdue(cid, False, "USD"), 8))
    assert await flags_of(tenant, cid) == (False, False, True)


async def test_credit_limit_flag_from_billing_per_currency(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    cid = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]

    async def exceeded(*items: tuple[CreditLimitExceeded, int]) -> bool:
        await publish_and_wait(kafka_bootstrap, customer_db, tenant.tenant_id, cid, list(items))
        body = (await tenant.client.get(f"/customers/{cid}")).json()
        [row] = [
            c
            for c in (await tenant.client.get("/customers")).json()["items"]
            if c["customer_id"] == cid
        ]
        assert row["credit_limit_exceeded"] == body["credit_limit_exceeded"]
        return bool(body["credit_limit_exceeded"])

    assert await exceeded((over_limit(cid, True, "USD"), 3)) is True
    assert await exceeded((over_limit(cid, True, "CAD"), 1), (over_limit(cid, False, "USD"), 4))
    assert await exceeded((over_limit(cid, False, "CAD"), 2)) is False
    # A stale one for CAD (sequence 1 < 2) does not bring the flag back.
    assert await exceeded((over_limit(cid, True, "CAD"), 1)) is False


async def test_write_responses_show_the_same_flags_as_a_read(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    await filled_directory(
        kafka_bootstrap, tenant, customer_db, realm, [qb_customer(realm, "1", "Flagged Co")]
    )
    cid = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    linked = await tenant.client.post(
        f"/customers/{cid}/quickbooks/link", json={"realm_id": realm, "display_name": "Flagged Co"}
    )
    assert linked.status_code == 200, linked.text
    await publish_and_wait(
        kafka_bootstrap,
        customer_db,
        tenant.tenant_id,
        cid,
        [(overdue(cid, True, "USD"), 1), (over_limit(cid, True, "USD"), 2)],
    )
    responses = [
        await tenant.client.patch(f"/customers/{cid}", json={"phone": "555 0100"}),
        await tenant.client.post(f"/customers/{cid}/inactivate"),
        await tenant.client.post(f"/customers/{cid}/reactivate"),
        await tenant.client.get(f"/customers/{cid}"),
    ]
    for response in responses:
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["linked_to_quickbooks"], body["overdue"], body["credit_limit_exceeded"]) == (
            True,
            True,
            True,
        )
