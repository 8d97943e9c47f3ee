"""QuickBooks: the directory from qb.customers, the mapping form, push and link by exact name,
and billing's flags from billing.balances, all through the real broker."""

from __future__ import annotations

import asyncio
import time
import uuid

from platform_events.contracts.billing import OverdueChanged
from platform_events.contracts.quickbooks import (
    QuickBooksCustomerLinked,
    QuickBooksCustomerMirrored,
)
from tests.customer.conftest import Tenant, minimal_customer, outbox_events
from tests.support.kafka_io import publish_events

ADDRESS = {"Line1": "1 Dock Rd", "Line2": "Unit 4", "City": "Portsmouth", "PostalCode": "PO1"}


def qb_customer(realm: str, qb_id: str, name: str, sync_token: int = 0, **extra: object):
    return QuickBooksCustomerMirrored(
        realm_id=realm, qb_customer_id=qb_id, sync_token=sync_token, display_name=name, **extra
    )


async def mirror(kafka: str, tenant: Tenant, customers: list[QuickBooksCustomerMirrored]) -> None:
    items = [(c, f"{c.realm_id}:{c.qb_customer_id}") for c in customers]
    await publish_events(kafka, "qb.customers", items, tenant=tenant.tenant_id)


async def wait_for(pool, sql: str, *args: object, expected: object, timeout: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = await pool.fetchval(sql, *args)
        if value == expected:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"waited for {expected!r}, last saw {value!r}")


async def filled_directory(
    kafka_bootstrap: str, tenant: Tenant, customer_db, realm: str, customers
):  # type: ignore[no-untyped-def]
    await mirror(kafka_bootstrap, tenant, customers)
    await wait_for(
        customer_db,
        "SELECT count(*) FROM qb_directory WHERE tenant_id = $1 AND realm_id = $2",
        tenant.tenant_id,
        realm,
        expected=len({c.qb_customer_id for c in customers}),
    )


async def test_directory_keeps_the_newest_sync_token(kafka_bootstrap, tenant: Tenant, customer_db):
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    await filled_directory(
        kafka_bootstrap,
        tenant,
        customer_db,
        realm,
        [
            qb_customer(realm, "1", "Old Name", sync_token=0),
            qb_customer(realm, "1", "New Name", sync_token=2),
            qb_customer(realm, "1", "Stale Name", sync_token=1),
            qb_customer(realm, "2", "Other"),
        ],
    )
    await wait_for(
        customer_db,
        "SELECT sync_token FROM qb_directory WHERE tenant_id = $1 AND qb_customer_id = '1'",
        tenant.tenant_id,
        expected=2,
    )
    form = (await tenant.client.get(f"/quickbooks/companies/{realm}/mappings")).json()
    assert [(r["display_name"], r["choice"], r["is_default"]) for r in form] == [
        ("New Name", "dont_import", True),
        ("Other", "dont_import", True),
    ]
    companies = (await tenant.client.get("/quickbooks/companies")).json()
    assert companies == [{"realm_id": realm, "provider": "qbo", "customers": 2}]


async def test_mapping_form_saves_every_row_by_the_import_rules(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    existing = (await tenant.client.post("/customers", json=minimal_customer())).json()
    await filled_directory(
        kafka_bootstrap,
        tenant,
        customer_db,
        realm,
        [
            qb_customer(realm, "10", "Jo Smith", given_name="Jo", family_name="Smith",
                        email="jo@x.test", phone="555 1", billing_address=ADDRESS),
            qb_customer(realm, "11", "Harbor Ltd (HQ)", company_name="Harbor Ltd",
                        currency="EUR", billing_address=ADDRESS,
                        shipping_address={"Line1": "9 Quay"}),
            qb_customer(realm, "12", "Harbor Depot", parent_qb_customer_id="11", active=False),
            qb_customer(realm, "13", "Existing Co"),
            qb_customer(realm, "14", "Skip Me"),
            qb_customer(realm, "15", "Existing Co Branch", parent_qb_customer_id="13"),
        ],
    )  # fmt: skip
    response = await tenant.client.put(
        f"/quickbooks/companies/{realm}/mappings",
        json={
            "default_choice": "create_here",
            "rows": [
                {"qb_customer_id": "13", "choice": "link_existing",
                 "customer_id": existing["customer_id"]},
                {"qb_customer_id": "14", "choice": "dont_import"},
            ],
        },
    )  # fmt: skip
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["changed_rows"] == 6
    created = result["created_customers"]
    assert set(created) == {"10", "11", "12", "15"}
    # Its QuickBooks parent is linked in this same save: the branch hangs under that customer.
    branch = (await tenant.client.get(f"/customers/{created['15']}")).json()
    assert branch["parent_id"] == existing["customer_id"]

    jo = (await tenant.client.get(f"/customers/{created['10']}")).json()
    assert (jo["company_name"], jo["customer_type"], jo["contact_name"]) == (
        "Jo Smith", "individual", "Jo Smith",
    )  # fmt: skip
    assert jo["billing_address"]["line1"] == "1 Dock Rd"
    assert jo["delivery_address"] == jo["billing_address"]  # falls back to billing
    assert (jo["currency"], jo["terms"], jo["email"]) == ("USD", "Net 30", "jo@x.test")
    # The tenant's defaults fill what QuickBooks lacks, for every list that has one.
    assert (jo["tax_type"], jo["delivery_method"], jo["warehouse"]) == (
        "Taxable",
        "Standard",
        "Main",
    )
    assert jo["linked_to_quickbooks"] is True
    contacts = (await tenant.client.get(f"/customers/{created['10']}/contacts")).json()
    assert [(c["name"], c["email"], c["is_primary"]) for c in contacts] == [
        ("Jo Smith", "jo@x.test", True)
    ]
    harbor = (await tenant.client.get(f"/customers/{created['11']}")).json()
    assert (harbor["company_name"], harbor["currency"]) == ("Harbor Ltd", "EUR")
    assert harbor["delivery_address"]["line1"] == "9 Quay"
    depot = (await tenant.client.get(f"/customers/{created['12']}")).json()
    assert depot["parent_id"] == created["11"]
    assert depot["active"] is False  # inactive in QuickBooks, inactive here

    form = {r["qb_customer_id"]: r for r in
            (await tenant.client.get(f"/quickbooks/companies/{realm}/mappings")).json()}  # fmt: skip
    assert form["13"]["customer_id"] == existing["customer_id"]
    assert form["14"]["choice"] == "dont_import" and form["14"]["is_default"] is False
    linked = (await tenant.client.get("/customers", params={"linked": True})).json()["items"]
    assert len(linked) == 5

    events = await outbox_events(customer_db, existing["customer_id"])
    assert events[-1]["type"] == "customer.mapping-saved.v1"
    assert events[-1]["data"]["choice"] == "link_existing"
    assert events[-1]["data"]["customer_active"] is True
    assert [e["type"] for e in await outbox_events(customer_db, created["11"])] == [
        "customer.created.v1",
        "customer.mapping-saved.v1",
    ]
    # Every event about a customer carries its active flag: the one imported inactive too.
    depot_mapping = (await outbox_events(customer_db, created["12"]))[-1]
    assert depot_mapping["type"] == "customer.mapping-saved.v1"
    assert depot_mapping["data"]["customer_active"] is False

    # Saving the same choices again changes nothing and emits nothing.
    again = await tenant.client.put(
        f"/quickbooks/companies/{realm}/mappings", json={"default_choice": "create_here"}
    )
    assert again.json()["changed_rows"] == 0

    # One QuickBooks customer per customer: linking `existing` twice is refused, naming the row.
    twice = await tenant.client.put(
        f"/quickbooks/companies/{realm}/mappings",
        json={"rows": [{"qb_customer_id": "14", "choice": "link_existing",
                        "customer_id": existing["customer_id"]}]},
    )  # fmt: skip
    assert twice.status_code == 422
    assert twice.json()["error"]["fields"][0]["field"] == "rows[14].customer_id"


async def test_create_here_keeps_the_depth_limit_under_a_deep_linked_parent(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    """QuickBooks' parent is linked to a customer already five levels deep here: its
    sub-customer would be a sixth level, refused as for any other parent change."""
    parent_id = None
    for level in range(5):
        body = minimal_customer(company_name=f"Level {level}", parent_id=parent_id)
        parent_id = (await tenant.client.post("/customers", json=body)).json()["customer_id"]
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    await filled_directory(
        kafka_bootstrap,
        tenant,
        customer_db,
        realm,
        [
            qb_customer(realm, "1", "Deep Parent"),
            qb_customer(realm, "2", "Too Deep", parent_qb_customer_id="1"),
            qb_customer(realm, "3", "Shallow Parent"),
            qb_customer(realm, "4", "Fine Child", parent_qb_customer_id="3"),
        ],
    )
    form = f"/quickbooks/companies/{realm}/mappings"
    link = {"qb_customer_id": "1", "choice": "link_existing", "customer_id": parent_id}
    refused = await tenant.client.put(form, json={"rows": [link], "default_choice": "create_here"})
    assert refused.status_code == 422, refused.text
    assert [(f["field"], f["code"]) for f in refused.json()["error"]["fields"]] == [
        ("rows[2].parent_id", "too_deep")
    ]
    count = "SELECT count(*) FROM customers WHERE tenant_id = $1"
    assert await customer_db.fetchval(count, tenant.tenant_id) == 5
    assert (
        await customer_db.fetchval(
            "SELECT count(*) FROM qb_mappings WHERE tenant_id = $1", tenant.tenant_id
        )
        == 0
    )
    # Without the too-deep row, the rest saves (a parent created in the same save is fine).
    rows = [link, {"qb_customer_id": "2", "choice": "dont_import"}]
    saved = await tenant.client.put(form, json={"rows": rows, "default_choice": "create_here"})
    assert saved.status_code == 200, saved.text
    created = saved.json()["created_customers"]
    child = (await tenant.client.get(f"/customers/{created['4']}")).json()
    assert child["parent_id"] == created["3"]


async def test_mapping_events_about_no_customer_have_increasing_sequences(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    await filled_directory(
        kafka_bootstrap,
        tenant,
        customer_db,
        realm,
        [qb_customer(realm, "1", "One"), qb_customer(realm, "2", "Two")],
    )
    form = f"/quickbooks/companies/{realm}/mappings"
    assert (
        await tenant.client.put(form, json={"default_choice": "dont_import"})
    ).status_code == 200
    # The row goes away (as when qb-sync links that QuickBooks customer) and is saved again.
    await customer_db.execute(
        "DELETE FROM qb_mappings WHERE tenant_id = $1 AND qb_customer_id = '1'", tenant.tenant_id
    )
    again = {"rows": [{"qb_customer_id": "1", "choice": "dont_import"}]}
    assert (await tenant.client.put(form, json=again)).status_code == 200
    one = [e["sequence"] for e in await outbox_events(customer_db, f"qb:{realm}:1")]
    two = [e["sequence"] for e in await outbox_events(customer_db, f"qb:{realm}:2")]
    assert len(one) == 2 and len(two) == 1
    assert 0 < one[0] < one[1] and two[0] > 0


async def test_link_existing_is_not_a_default_choice(kafka_bootstrap, tenant: Tenant, customer_db):
    """A default applies to rows nobody named, so it has no customer to link them to."""
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    await filled_directory(
        kafka_bootstrap, tenant, customer_db, realm, [qb_customer(realm, "1", "Unmapped")]
    )
    form = f"/quickbooks/companies/{realm}/mappings"
    saved = await tenant.client.put(form, json={"default_choice": "link_existing"})
    assert saved.status_code == 422
    assert saved.json()["error"]["fields"][0]["field"] == "default_choice"
    shown = await tenant.client.get(form, params={"default_choice": "link_existing"})
    assert shown.status_code == 422
    assert "default_choice" in shown.json()["error"]["fields"][0]["field"]
    assert (
        await customer_db.fetchval(
            "SELECT count(*) FROM qb_mappings WHERE tenant_id = $1", tenant.tenant_id
        )
        == 0
    )
    assert (await tenant.client.get(form)).json()[0]["is_default"] is True


async def test_link_by_exact_display_name_only(kafka_bootstrap, tenant: Tenant, customer_db):
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    await filled_directory(
        kafka_bootstrap,
        tenant,
        customer_db,
        realm,
        [qb_customer(realm, "1", "Acme  Widgets"), qb_customer(realm, "2", "Acme Gadgets")],
    )
    first = (await tenant.client.post("/customers", json=minimal_customer())).json()
    second = (await tenant.client.post("/customers", json=minimal_customer())).json()
    link = f"/customers/{first['customer_id']}/quickbooks/link"
    near = await tenant.client.post(link, json={"realm_id": realm, "display_name": "Acme Widgets"})
    assert near.status_code == 422
    assert near.json()["error"]["closest_names"][0] == "Acme  Widgets"
    exact = await tenant.client.post(
        link, json={"realm_id": realm, "display_name": "Acme  Widgets"}
    )
    assert exact.status_code == 200, exact.text
    assert exact.json()["qb_customer_id"] == "1"
    taken = await tenant.client.post(
        f"/customers/{second['customer_id']}/quickbooks/link",
        json={"realm_id": realm, "display_name": "Acme  Widgets"},
    )
    assert taken.status_code == 409
    already = await tenant.client.post(
        link, json={"realm_id": realm, "display_name": "Acme Gadgets"}
    )
    assert already.status_code == 409
    links = (await tenant.client.get(f"/customers/{first['customer_id']}/quickbooks")).json()
    assert [(x["qb_customer_id"], x["choice"]) for x in links] == [("1", "link_existing")]


async def test_mapping_events_about_an_inactive_customer_say_so(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    await filled_directory(
        kafka_bootstrap, tenant, customer_db, realm, [qb_customer(realm, "1", "Dormant Co")]
    )
    linked, pushed = [
        (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
        for _ in range(2)
    ]
    for cid in (linked, pushed):
        inactive = await tenant.client.post(f"/customers/{cid}/inactivate", json={"reason": "x"})
        assert inactive.status_code == 200, inactive.text
    link = await tenant.client.post(
        f"/customers/{linked}/quickbooks/link",
        json={"realm_id": realm, "display_name": "Dormant Co"},
    )
    assert link.status_code == 200, link.text
    push = await tenant.client.post(
        f"/customers/{pushed}/quickbooks/push", json={"realm_id": realm}
    )
    assert push.status_code == 202, push.text
    for cid, choice in ((linked, "link_existing"), (pushed, "push_to_quickbooks")):
        event = (await outbox_events(customer_db, cid))[-1]
        assert (event["type"], event["data"]["choice"]) == ("customer.mapping-saved.v1", choice)
        assert event["data"]["customer_active"] is False


async def test_push_request_then_link_reported_by_qb_sync(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    cid = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    push = f"/customers/{cid}/quickbooks/push"
    assert (await tenant.client.post(push, json={"realm_id": realm})).status_code == 202
    assert (await tenant.client.post(push, json={"realm_id": realm})).status_code == 409
    event = (await outbox_events(customer_db, cid))[-1]
    assert event["data"]["choice"] == "push_to_quickbooks"
    assert event["data"]["qb_customer_id"] is None
    linked = QuickBooksCustomerLinked(
        realm_id=realm, customer_id=cid, qb_customer_id="77", sync_token=0, how="created"
    )
    await publish_events(kafka_bootstrap, "qb.sync", [(linked, cid)], tenant=tenant.tenant_id)
    await wait_for(
        customer_db,
        "SELECT status FROM qb_mappings WHERE tenant_id = $1 AND realm_id = $2",
        tenant.tenant_id,
        realm,
        expected="linked",
    )
    got = (await tenant.client.get(f"/customers/{cid}")).json()
    assert got["linked_to_quickbooks"] is True


async def test_a_pushed_customer_mirrored_before_its_link_is_never_offered_to_create_here(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    """qb-sync's mirror of the QuickBooks customer a push created (qb.customers) and its
    QuickBooksCustomerLinked (qb.sync) are two topics: the mirror may come first. It names the
    linked customer, so the form shows the link and "create here" for all makes no second
    platform customer of it."""
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    cid = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    push = f"/customers/{cid}/quickbooks/push"
    assert (await tenant.client.post(push, json={"realm_id": realm})).status_code == 202
    pushed = qb_customer(realm, "88", "Pushed Co", sync_token=0, linked_customer_id=cid)
    await filled_directory(
        kafka_bootstrap, tenant, customer_db, realm, [pushed, qb_customer(realm, "89", "Other")]
    )
    await wait_for(
        customer_db,
        "SELECT customer_id::text FROM qb_mappings WHERE tenant_id = $1 AND qb_customer_id = '88'",
        tenant.tenant_id,
        expected=cid,
    )
    form = f"/quickbooks/companies/{realm}/mappings"
    saved = await tenant.client.put(form, json={"default_choice": "create_here"})
    assert saved.status_code == 200, saved.text
    assert set(saved.json()["created_customers"]) == {"89"}  # not "88": it is ours already
    mine = (await tenant.client.get(f"/customers/{cid}/quickbooks")).json()
    assert [(m["qb_customer_id"], m["status"]) for m in mine] == [("88", "linked")]

    # The link event, arriving after, changes nothing.
    linked = QuickBooksCustomerLinked(
        realm_id=realm, customer_id=cid, qb_customer_id="88", sync_token=0, how="created"
    )
    [event_id] = await publish_events(
        kafka_bootstrap, "qb.sync", [(linked, cid)], tenant=tenant.tenant_id
    )
    await wait_for(
        customer_db,
        "SELECT count(*) FROM inbox WHERE consumer = 'customer' AND event_id = $1",
        event_id,
        expected=1,
    )
    mine = (await tenant.client.get(f"/customers/{cid}/quickbooks")).json()
    assert [(m["qb_customer_id"], m["status"]) for m in mine] == [("88", "linked")]
    listed = (await tenant.client.get("/customers")).json()["items"]
    assert sum(1 for c in listed if c["company_name"] == "Pushed Co") == 0  # no copy made


async def test_overdue_flag_from_billing_drops_stale_events(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    cid = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    # publish_events numbers sequences 1, 2, 3 in order; send newest-last but check a stale one.
    await publish_events(
        kafka_bootstrap,
        "billing.balances",
        [
            (OverdueChanged(customer_id=cid, overdue=False), cid),
            (OverdueChanged(customer_id=cid, overdue=True, overdue_amount_minor=500), cid),
        ],
        tenant=tenant.tenant_id,
    )
    await wait_for(
        customer_db,
        "SELECT overdue_sequence FROM billing_flags WHERE tenant_id = $1",
        tenant.tenant_id,
        expected=2,
    )
    overdue = (await tenant.client.get("/customers", params={"overdue": True})).json()["items"]
    assert [(c["customer_id"], c["overdue"]) for c in overdue] == [(cid, True)]
    # A stale event (sequence 1) arriving late does not clear the flag.
    [stale_id] = await publish_events(
        kafka_bootstrap,
        "billing.balances",
        [(OverdueChanged(customer_id=cid, overdue=False), cid)],
        tenant=tenant.tenant_id,
    )
    await wait_for(
        customer_db,
        "SELECT count(*) FROM inbox WHERE consumer = 'customer' AND event_id = $1",
        stale_id,
        expected=1,
    )
    assert (await tenant.client.get(f"/customers/{cid}")).json()["overdue"] is True


async def test_another_tenant_cannot_link_push_or_map_this_tenants_customers(
    kafka_bootstrap, tenant: Tenant, other_tenant: Tenant, customer_db
):
    mine = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    await filled_directory(
        kafka_bootstrap, other_tenant, customer_db, realm, [qb_customer(realm, "1", "Theirs")]
    )
    intruder = other_tenant.client
    # A mapping row of their own company may not target a customer of this tenant.
    mapped = await intruder.put(
        f"/quickbooks/companies/{realm}/mappings",
        json={"rows": [{"qb_customer_id": "1", "choice": "link_existing", "customer_id": mine}]},
    )
    assert mapped.status_code == 422
    assert mapped.json()["error"]["fields"][0] == {
        "field": "rows[1].customer_id",
        "code": "unknown_customer",
        "message": "no such customer",
    }
    pushed = await intruder.post(f"/customers/{mine}/quickbooks/push", json={"realm_id": realm})
    linked = await intruder.post(
        f"/customers/{mine}/quickbooks/link", json={"realm_id": realm, "display_name": "Theirs"}
    )
    links = await intruder.get(f"/customers/{mine}/quickbooks")
    assert [pushed.status_code, linked.status_code, links.status_code] == [404, 404, 404]
    # Nor does this tenant see theirs.
    assert (await tenant.client.get("/quickbooks/companies")).json() == []
    assert (await tenant.client.get(f"/quickbooks/companies/{realm}/mappings")).json() == []
    assert (
        await customer_db.fetchval(
            "SELECT count(*) FROM qb_mappings WHERE customer_id = $1", uuid.UUID(mine)
        )
        == 0
    )
    assert [e["type"] for e in await outbox_events(customer_db, mine)] == ["customer.created.v1"]
