"""Listing: search, filters, sort, keyset pages stable under concurrent inserts, CSV export."""

from __future__ import annotations

import base64
import csv
import io
import json

from tests.customer.conftest import Tenant, minimal_customer


async def create(tenant: Tenant, name: str, **extra: object) -> dict:
    response = await tenant.client.post(
        "/customers", json=minimal_customer(company_name=name, **extra)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_search_matches_name_tracking_email_and_account_numbers(tenant: Tenant):
    await create(tenant, "Blue Harbor Foods", email="ap@blueharbor.test")
    await create(tenant, "Red Kite", tracking_number="RK-77", ext_account_number="EXT-555")
    await create(tenant, "Green_Leaf 100%")

    async def names(q: str) -> list[str]:
        items = (await tenant.client.get("/customers", params={"q": q})).json()["items"]
        return [c["company_name"] for c in items]

    assert await names("harbor") == ["Blue Harbor Foods"]
    assert await names("BLUEHARBOR.test") == ["Blue Harbor Foods"]
    assert await names("rk-77") == ["Red Kite"]
    assert await names("ext-555") == ["Red Kite"]
    assert await names("100%") == ["Green_Leaf 100%"]
    assert await names("n_l") == ["Green_Leaf 100%"]  # "_" is literal, not a wildcard
    assert await names("nothing-like-this") == []


async def test_filters_and_sorts(tenant: Tenant):
    a = await create(tenant, "Alpha", category="Wholesale")
    b = await create(tenant, "bravo")
    c = await create(tenant, "Charlie", category="Wholesale")
    await tenant.client.post(f"/customers/{c['customer_id']}/inactivate")

    async def ids(**params: object) -> list[str]:
        items = (await tenant.client.get("/customers", params=params)).json()["items"]
        return [x["customer_id"] for x in items]

    assert await ids() == [a["customer_id"], b["customer_id"], c["customer_id"]]
    assert await ids(sort="-name") == [c["customer_id"], b["customer_id"], a["customer_id"]]
    assert await ids(sort="-created") == [c["customer_id"], b["customer_id"], a["customer_id"]]
    assert await ids(category="Wholesale") == [a["customer_id"], c["customer_id"]]
    assert await ids(category="Wholesale", status="active") == [a["customer_id"]]
    assert await ids(linked=False, overdue=False) == await ids()
    assert await ids(linked=True) == []
    assert (await tenant.client.get("/customers", params={"sort": "bogus"})).status_code == 422


async def test_keyset_pages_stay_correct_under_concurrent_inserts(tenant: Tenant):
    for i in range(10):
        await create(tenant, f"Firm {i:02d}")
    seen: list[str] = []
    cursor = None
    issued: list[str] = []
    inserted = 0
    while True:
        params: dict[str, object] = {"limit": 3, "sort": "name"}
        if cursor:
            params["cursor"] = cursor
        page = (await tenant.client.get("/customers", params=params)).json()
        issued += [page["next_cursor"]] if page["next_cursor"] else []
        seen += [c["company_name"] for c in page["items"]]
        # Rows inserted before and after the cursor while paging.
        if inserted < 3:
            await create(tenant, f"Aaa inserted {inserted}")
            await create(tenant, f"Zzz inserted {inserted}")
            inserted += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    firms = [n for n in seen if n.startswith("Firm")]
    assert firms == [f"Firm {i:02d}" for i in range(10)]  # none skipped, none repeated
    assert len(seen) == len(set(seen))
    # A real cursor of the name order, used with another order.
    mismatched = await tenant.client.get(
        "/customers", params={"sort": "-name", "cursor": issued[0]}
    )
    assert mismatched.status_code == 422
    assert mismatched.json()["error"]["fields"][0] == {
        "field": "cursor",
        "code": "sort_mismatch",
        "message": "the cursor belongs to a different sort order",
    }
    garbage = await tenant.client.get("/customers", params={"sort": "name", "cursor": "x"})
    assert garbage.status_code == 422
    assert garbage.json()["error"]["fields"][0]["code"] == "malformed"


def forged_cursor(*parts: object) -> str:
    raw = json.dumps(list(parts)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_a_tampered_cursor_is_422_naming_the_cursor(tenant: Tenant):
    await create(tenant, "Only One")
    some_id = "6b0f4f7e-3a55-4a3c-9a55-5d8f7d9c0a11"
    forged = [
        ("name", forged_cursor("name", 123, some_id)),
        ("name", forged_cursor("name", "acme", "not-a-uuid")),
        ("name", forged_cursor("name", "acme", 42)),
        ("name", forged_cursor("name", "a\u0000b", some_id)),
        ("name", forged_cursor("name", ["acme"], some_id)),
        ("name", forged_cursor("name", "acme")),
        ("created", forged_cursor("created", "yesterday", some_id)),
        ("created", forged_cursor("created", "2024-01-01T00:00:00", some_id)),  # no zone
        ("tracking_number", forged_cursor("tracking_number", None, some_id)),
        ("name", base64.urlsafe_b64encode(b"\xff\xfe").decode()),
        ("name", forged_cursor({"name": 1})),
    ]
    for sort, cursor in forged:
        response = await tenant.client.get("/customers", params={"sort": sort, "cursor": cursor})
        assert response.status_code == 422, (sort, cursor, response.text)
        assert response.json()["error"]["fields"][0]["field"] == "cursor"
        export = await tenant.client.get(
            "/customers/export.csv", params={"sort": sort, "cursor": cursor}
        )
        assert export.status_code == 422
    # A well-formed cursor of the right shape still pages.
    ok = forged_cursor("created", "2000-01-01T00:00:00+00:00", some_id)
    page = await tenant.client.get("/customers", params={"sort": "created", "cursor": ok})
    assert [c["company_name"] for c in page.json()["items"]] == ["Only One"]


async def test_csv_export_streams_the_same_query(tenant: Tenant):
    for i in range(25):
        await create(tenant, f"Export {i:02d}", category="Wholesale" if i % 2 else "Retail")
    response = await tenant.client.get(
        "/customers/export.csv", params={"category": "Wholesale", "sort": "-name"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["company_name"] for r in rows] == [f"Export {i:02d}" for i in range(23, 0, -2)]
    assert rows[0]["linked_to_quickbooks"] == "False"


async def test_export_pages_through_every_row_in_chunks(tenant: Tenant, customer_db):
    from customer_service.domain.listing import CustomerQuery
    from customer_service.store.listing import iterate_all

    for i in range(7):
        await create(tenant, f"Chunk {i}")
    rows = [c async for c, _ in iterate_all(customer_db, CustomerQuery(tenant.tenant_id), chunk=3)]
    assert [c.company_name for c in rows] == [f"Chunk {i}" for i in range(7)]


async def test_both_search_plans_give_the_same_pages(tenant: Tenant, customer_db, monkeypatch):
    import customer_service.store.listing as listing
    from customer_service.domain.listing import CustomerQuery

    for i in range(30):
        await create(tenant, f"{['Oak', 'Pine', 'Elm'][i % 3]} Works {i:02d}", category="Retail")
    queries = [
        CustomerQuery(tenant.tenant_id, q="works", sort="-name", limit=7),
        CustomerQuery(tenant.tenant_id, q="oak wo", sort="created", limit=4, category="Retail"),
        CustomerQuery(tenant.tenant_id, q="pine", sort="-created", limit=50),
    ]
    for query in queries:
        pages = []
        for plan in ("plain", "matches"):
            sql, args = listing.build_list_sql(query, plan=plan)
            pages.append([r["customer_id"] for r in await customer_db.fetch(sql, *args)])
        assert pages[0] == pages[1] and pages[0]
    # A budget too small to finish: the fallback runs, the answer is the same, nothing breaks.
    monkeypatch.setattr(listing, "SORTED_WALK_BUDGET", "1ms")
    for _ in range(20):
        for query, expected in zip(queries, (7, 4, 10), strict=True):
            assert len(await listing.list_page(customer_db, query)) == expected


async def test_pages_split_inside_a_run_of_equal_names(tenant: Tenant):
    """Many customers share a name (case differs too): the id breaks the tie, so pages cut
    through the run without skipping or repeating anyone."""
    ids = [
        (await create(tenant, name))["customer_id"]
        for name in ["Same Name", "same name", "SAME NAME"] * 3
    ]
    await create(tenant, "Aardvark")
    await create(tenant, "Zebra")
    for sort, reverse in (("name", False), ("-name", True)):
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, object] = {"limit": 2, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            page = (await tenant.client.get("/customers", params=params)).json()
            seen += [c["customer_id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        same = [cid for cid in seen if cid in ids]
        assert same == sorted(ids, reverse=reverse)
        assert len(seen) == len(set(seen)) == 11


async def test_csv_export_neutralises_cells_a_spreadsheet_would_run(tenant: Tenant):
    await create(
        tenant,
        '=HYPERLINK("http://evil.test","click")',
        display_name="@SUM(A1:A9)",
        ext_account_number="-2+3",
        phone="+1 555 0100",
        tracking_number="T-1",
    )
    response = await tenant.client.get("/customers/export.csv")
    [row] = list(csv.DictReader(io.StringIO(response.text)))
    assert row["company_name"] == '\'=HYPERLINK("http://evil.test","click")'
    assert row["display_name"] == "'@SUM(A1:A9)"
    assert row["ext_account_number"] == "'-2+3"
    assert row["phone"] == "'+1 555 0100"
    assert (row["tracking_number"], row["active"]) == ("T-1", "True")
