"""Customer CRUD over HTTP: fields, defaults, validation, versions, tenancy."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.customer.conftest import Tenant, minimal_customer, outbox_events


async def test_create_fills_defaults_and_generates_a_tracking_number(tenant: Tenant):
    response = await tenant.client.post("/customers", json=minimal_customer())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["currency"] == "USD"
    assert body["category"] == "Retail"
    assert body["terms"] == "Net 30"
    assert body["sales_rep"] == "House"
    assert body["tracking_number"].startswith("C")
    assert body["version"] == 1 and body["active"] is True
    assert response.headers["etag"] == '"1"'
    # Every list with a default fills its field, required or not; lists without one stay empty.
    assert (body["tax_type"], body["delivery_method"], body["warehouse"]) == (
        "Taxable",
        "Standard",
        "Main",
    )
    assert (body["carrier"], body["country"]) == (None, None)


async def test_an_admins_default_applies_and_an_explicit_null_stays_empty(tenant: Tenant):
    carriers = await tenant.admin.put(
        "/reference-lists/carrier", json={"values": ["UPS", "DHL"], "default": "DHL"}
    )
    assert carriers.status_code == 200, carriers.text
    body = (await tenant.client.post("/customers", json=minimal_customer())).json()
    assert body["carrier"] == "DHL"
    chosen = minimal_customer(carrier="UPS", tax_type=None)
    body = (await tenant.client.post("/customers", json=chosen)).json()
    assert (body["carrier"], body["tax_type"]) == ("UPS", None)


async def test_a_failed_first_request_does_not_leave_the_tenant_without_lists(tenant: Tenant):
    """The tenant's very first request seeds its lists and then fails (unknown currency): the
    seed must survive, or every later create in this process is a 422."""
    failed = await tenant.client.post("/customers", json=minimal_customer(currency="JPY"))
    assert failed.status_code == 422
    created = await tenant.client.post("/customers", json=minimal_customer())
    assert created.status_code == 201, created.text
    assert created.json()["currency"] == "USD"
    lists = {r["kind"]: r for r in (await tenant.client.get("/reference-lists")).json()}
    assert lists["currency"]["default"] == "USD" and "CAD" in lists["currency"]["values"]


async def test_a_patch_cannot_clear_a_required_field(tenant: Tenant, customer_db):
    cid = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    cleared = {
        "company_name": None,
        "customer_type": None,
        "tracking_number": None,
        "product_display": None,
        "contact_name": None,
        "currency": None,
    }
    response = await tenant.client.patch(f"/customers/{cid}", json=cleared)
    assert response.status_code == 422, response.text
    fields = {f["field"]: f["code"] for f in response.json()["error"]["fields"]}
    assert fields == dict.fromkeys(cleared, "missing")
    for name in cleared:
        one = await tenant.client.patch(f"/customers/{cid}", json={name: None})
        assert one.status_code == 422
        assert [f["field"] for f in one.json()["error"]["fields"]] == [name]
    got = (await tenant.client.get(f"/customers/{cid}")).json()
    assert (got["version"], got["company_name"]) == (1, "Acme Widgets")
    assert len(await outbox_events(customer_db, cid)) == 1
    # Optional fields still clear.
    ok = await tenant.client.patch(
        f"/customers/{cid}", json={"display_name": None, "tax_type": None}
    )
    assert ok.status_code == 200 and ok.json()["tax_type"] is None


async def test_create_with_every_field(tenant: Tenant):
    address = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}
    full = minimal_customer(
        customer_type="individual",
        display_name="Acme",
        tracking_number="ACME-1",
        ext_account_number="EXT-9",
        sub_account_number="SUB-9",
        currency="EUR",
        category="Wholesale",
        sales_rep="House",
        terms="Net 15",
        country="DE",
        warehouse="Main",
        tax_type="Exempt",
        delivery_method="Express",
        carrier="DHL",
        email="ap@acme.test",
        phone="+1 555 0100",
        mobile="+1 555 0101",
        fax="+1 555 0102",
        website="https://acme.test",
        factored=True,
        web_sales=True,
        allow_partial_payments=True,
        product_display="exclusive_only",
        discount_percent="12.5",
        credit_limit_minor=500_000,
        sales_limit_minor=900_000,
        billing_address=address,
        delivery_address=address,
        postal_address=address,
    )
    response = await tenant.client.post("/customers", json=full)
    assert response.status_code == 201, response.text
    got = (await tenant.client.get(f"/customers/{response.json()['customer_id']}")).json()
    for key, value in full.items():
        if key == "discount_percent":
            assert float(got[key]) == 12.5
        elif key.endswith("_address"):
            assert {k: v for k, v in got[key].items() if v is not None} == value
        else:
            assert got[key] == value, key


async def test_missing_and_unknown_values_are_422_naming_each_field(tenant: Tenant):
    response = await tenant.client.post(
        "/customers", json={"currency": "JPY", "category": "Nope", "email": "not-an-email"}
    )
    assert response.status_code == 422
    fields = {f["field"] for f in response.json()["error"]["fields"]}
    assert {"company_name", "contact_name", "email"} <= fields
    response = await tenant.client.post(
        "/customers", json=minimal_customer(currency="JPY", category="Nope", carrier="Pigeon")
    )
    assert response.status_code == 422
    codes = {f["field"]: f["code"] for f in response.json()["error"]["fields"]}
    assert codes == {
        "currency": "unknown_reference",
        "category": "unknown_reference",
        "carrier": "unknown_reference",
    }


async def test_a_required_reference_without_a_default_is_422(tenant: Tenant):
    replaced = await tenant.admin.put("/reference-lists/terms", json={"values": ["Net 7"]})
    assert replaced.status_code == 200, replaced.text
    response = await tenant.client.post("/customers", json=minimal_customer())
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "terms"
    ok = await tenant.client.post("/customers", json=minimal_customer(terms="Net 7"))
    assert ok.status_code == 201


async def test_tracking_numbers_are_unique_per_tenant(tenant: Tenant, other_tenant: Tenant):
    first = await tenant.client.post("/customers", json=minimal_customer(tracking_number="T-1"))
    assert first.status_code == 201
    again = await tenant.client.post("/customers", json=minimal_customer(tracking_number="T-1"))
    assert again.status_code == 422
    assert again.json()["error"]["fields"][0]["field"] == "tracking_number"
    elsewhere = await other_tenant.client.post(
        "/customers", json=minimal_customer(tracking_number="T-1")
    )
    assert elsewhere.status_code == 201


async def test_update_emits_changed_fields_and_full_state(tenant: Tenant, customer_db):
    created = (await tenant.client.post("/customers", json=minimal_customer())).json()
    cid = created["customer_id"]
    response = await tenant.client.patch(
        f"/customers/{cid}",
        json={"phone": "555 0199", "category": "Wholesale", "company_name": "Acme Widgets"},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    events = await outbox_events(customer_db, cid)
    assert [e["type"] for e in events] == ["customer.created.v1", "customer.updated.v1"]
    updated = events[1]
    assert updated["sequence"] == 2
    assert updated["data"]["changed_fields"] == ["category", "phone"]
    assert updated["data"]["customer"]["phone"] == "555 0199"
    assert updated["data"]["customer"]["company_name"] == "Acme Widgets"


async def test_a_stale_if_match_is_409_and_changes_nothing(tenant: Tenant, customer_db):
    cid = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    await tenant.client.patch(f"/customers/{cid}", json={"phone": "1"}, headers={"If-Match": '"1"'})
    stale = await tenant.client.patch(
        f"/customers/{cid}", json={"phone": "2"}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["current_version"] == 2
    assert (await tenant.client.get(f"/customers/{cid}")).json()["phone"] == "1"
    assert len(await outbox_events(customer_db, cid)) == 2


async def test_unknown_ids_are_404(tenant: Tenant):
    assert (
        await tenant.client.get("/customers/00000000-0000-0000-0000-000000000000")
    ).status_code == 404
    assert (await tenant.client.get("/customers/not-a-uuid")).status_code == 404
    missing = await tenant.client.patch("/customers/not-a-uuid", json={"phone": "1"})
    assert missing.status_code == 404


async def test_one_tenant_never_sees_or_changes_another(tenant: Tenant, other_tenant: Tenant):
    cid = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    assert (await other_tenant.client.get(f"/customers/{cid}")).status_code == 404
    patched = await other_tenant.client.patch(f"/customers/{cid}", json={"phone": "9"})
    assert patched.status_code == 404
    assert (await other_tenant.client.post(f"/customers/{cid}/inactivate")).status_code == 404
    listed = (await other_tenant.client.get("/customers")).json()["items"]
    assert listed == []
    child = await other_tenant.client.post("/customers", json=minimal_customer(parent_id=cid))
    assert child.status_code == 422


async def test_the_database_refuses_rows_that_cross_tenants(
    tenant: Tenant, other_tenant: Tenant, customer_db
):
    """Not only the queries: a row naming another tenant's customer cannot be written at all."""
    cid = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    theirs = (await other_tenant.client.post("/customers", json=minimal_customer())).json()
    other, key = other_tenant.tenant_id, uuid.UUID(cid)
    crossing = [
        ("UPDATE customers SET parent_id = $1 WHERE customer_id = $2",
         (uuid.UUID(theirs["customer_id"]), key)),
        ("INSERT INTO contacts (contact_id, tenant_id, customer_id, name)"
         " VALUES (gen_random_uuid(), $1, $2, 'x')", (other, key)),
        ("INSERT INTO notes (note_id, tenant_id, customer_id, author, body)"
         " VALUES (gen_random_uuid(), $1, $2, 'x', 'x')", (other, key)),
        ("INSERT INTO attachments (attachment_id, tenant_id, customer_id, filename, content_type,"
         " size_bytes, sha256, content) VALUES (gen_random_uuid(), $1, $2, 'x', 'text/plain', 1,"
         " 'x', 'x')", (other, key)),
        ("INSERT INTO qb_mappings (tenant_id, realm_id, qb_customer_id, customer_id, choice)"
         " VALUES ($1, 'r', '1', $2, 'link_existing')", (other, key)),
    ]  # fmt: skip
    for sql, args in crossing:
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await customer_db.execute(sql, *args)
    # The same rows within one tenant are fine (so the refusals above are about tenancy).
    await customer_db.execute(
        "INSERT INTO notes (note_id, tenant_id, customer_id, author, body)"
        " VALUES (gen_random_uuid(), $1, $2, 'x', 'x')",
        tenant.tenant_id,
        key,
    )


async def test_scopes_and_tokens_are_enforced(tenant: Tenant):
    assert (await tenant.reader.post("/customers", json=minimal_customer())).status_code == 403
    assert (await tenant.reader.get("/customers")).status_code == 200
    denied = await tenant.client.put("/reference-lists/terms", json={"values": ["Net 7"]})
    assert denied.status_code == 403
    tenant.reader.headers["Authorization"] = "Bearer nope"
    assert (await tenant.reader.get("/customers")).status_code == 401


async def test_oversize_payload_is_413(tenant: Tenant):
    big = minimal_customer(display_name="x" * 3_000_000)
    assert (await tenant.client.post("/customers", json=big)).status_code == 413


async def test_sub_customers_refuse_cycles(tenant: Tenant):
    async def create(**extra: object) -> str:
        response = await tenant.client.post("/customers", json=minimal_customer(**extra))
        assert response.status_code == 201, response.text
        return str(response.json()["customer_id"])

    top = await create()
    middle = await create(parent_id=top)
    bottom = await create(parent_id=middle)
    loop = await tenant.client.patch(f"/customers/{top}", json={"parent_id": bottom})
    assert loop.status_code == 422
    assert loop.json()["error"]["fields"][0]["code"] == "cycle"
    itself = await tenant.client.patch(f"/customers/{top}", json={"parent_id": top})
    assert itself.status_code == 422
    children = (await tenant.client.get("/customers", params={"parent_id": top})).json()["items"]
    assert [c["customer_id"] for c in children] == [middle]


async def test_inactivate_and_reactivate(tenant: Tenant, customer_db):
    cid = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    response = await tenant.client.post(
        f"/customers/{cid}/inactivate", json={"reason": "closed"}, headers={"If-Match": '"1"'}
    )
    assert response.status_code == 200 and response.json()["active"] is False
    again = await tenant.client.post(f"/customers/{cid}/inactivate")
    assert again.json()["version"] == 2  # no-op, no second event
    assert (await tenant.client.get(f"/customers/{cid}")).json()["active"] is False
    listed = (await tenant.client.get("/customers", params={"status": "inactive"})).json()["items"]
    assert [(c["customer_id"], c["active"]) for c in listed] == [(cid, False)]
    selectable = (await tenant.client.get("/customers", params={"selectable": True})).json()
    assert selectable["items"] == []
    await tenant.client.post(f"/customers/{cid}/reactivate")
    events = await outbox_events(customer_db, cid)
    assert [e["type"] for e in events] == [
        "customer.created.v1",
        "customer.inactivated.v1",
        "customer.reactivated.v1",
    ]
    assert events[1]["data"]["customer"]["active"] is False
    assert events[1]["data"]["reason"] == "closed"
    assert [e["sequence"] for e in events] == [1, 2, 3]


async def test_two_concurrent_edits_with_the_same_version_one_wins(tenant: Tenant, customer_db):
    import asyncio

    cid = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    results = await asyncio.gather(
        *(
            tenant.client.patch(
                f"/customers/{cid}", json={"phone": f"55{i}"}, headers={"If-Match": '"1"'}
            )
            for i in range(5)
        )
    )
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409, 409]
    assert len(await outbox_events(customer_db, cid)) == 2


async def test_the_openapi_document_lists_the_customer_routes(tenant: Tenant):
    spec = (await tenant.client.get("/openapi.json")).json()
    assert {
        "/v1/customers",
        "/v1/customers/{customer_id}",
        "/v1/quickbooks/companies/{realm_id}/mappings",
    } <= set(spec["paths"])
