"""Bad input meets a clear 4xx at the HTTP edge, and nothing stored changes (issue 13's classes).

Each test compares everything the tenant has stored (customers, reference lists, attachments,
outbox events) before and after the refused requests.
"""

from __future__ import annotations

import base64
import unicodedata

import asyncpg
import pytest

from tests.customer.conftest import Tenant, minimal_customer

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n%fake but well-started\n"


async def stored(db: asyncpg.Pool, tenant_id: str) -> tuple[object, ...]:
    return (
        await db.fetch(
            "SELECT * FROM customers WHERE tenant_id = $1 ORDER BY customer_id", tenant_id
        ),
        await db.fetch(
            "SELECT kind, code, is_default FROM reference_values WHERE tenant_id = $1"
            " ORDER BY kind, code",
            tenant_id,
        ),
        await db.fetch(
            "SELECT attachment_id, filename FROM attachments WHERE tenant_id = $1", tenant_id
        ),
        await db.fetchval("SELECT count(*) FROM test_outbox_copy"),
    )


async def new_customer(tenant: Tenant, **fields: object) -> str:
    created = await tenant.client.post("/v1/customers", json=minimal_customer(**fields))
    assert created.status_code == 201, created.text
    return str(created.json()["customer_id"])


async def test_nul_and_lone_surrogates_anywhere_are_422_and_store_nothing(
    tenant: Tenant, customer_db: asyncpg.Pool
) -> None:
    cid = await new_customer(tenant)
    before = await stored(customer_db, tenant.tenant_id)
    c = tenant.client
    answers = {
        "json body": await c.post("/v1/customers", json=minimal_customer(company_name="A\x00B")),
        "nested key": await c.patch(
            f"/v1/customers/{cid}", json={"billing_address": {"line1\x00": "x"}}
        ),
        "surrogate": await c.post(
            "/v1/customers",
            content=b'{"company_name": "A\\ud800", "contact_name": "Ann"}',
            headers={"content-type": "application/json"},
        ),
        "query": await c.get("/v1/customers", params={"q": "ab\x00c"}),
        "path": await c.get(f"/v1/customers/{cid}%00"),
        "header": await c.patch(
            f"/v1/customers/{cid}", json={"terms": "Net 15"}, headers={"If-Match": '"1\x00"'}
        ),
        "csv export": await c.get("/v1/customers/export.csv", params={"category": "x\x00"}),
        "legacy path": await c.post("/customers", json=minimal_customer(contact_name="\x00")),
        "note": await c.post(f"/v1/customers/{cid}/notes", json={"body": "hi\x00"}),
    }
    bad = {k: (a.status_code, a.text) for k, a in answers.items() if a.status_code != 422}
    assert not bad, bad
    assert all(a.json()["error"]["code"] == "validation_failed" for a in answers.values())
    assert answers["json body"].json()["error"]["fields"][0]["field"] == "body.company_name"
    assert await stored(customer_db, tenant.tenant_id) == before


async def test_a_failed_csv_export_is_an_error_not_an_empty_200(tenant: Tenant) -> None:
    forged = base64.urlsafe_b64encode(b'["name", "x", "not-a-uuid"]').decode()
    answer = await tenant.client.get("/v1/customers/export.csv", params={"cursor": forged})
    assert answer.status_code == 422
    ok = await tenant.client.get("/v1/customers/export.csv")
    assert ok.status_code == 200 and ok.text.startswith("customer_id,")


@pytest.mark.parametrize(
    "payload",
    [
        b'["name", "\\ud800", "3f1c3e3a-6a53-4a8e-9a4f-4f0b2a1c9d11"]',  # a lone surrogate
        b'["created", "0001-01-01T00:00:00+14:00", "3f1c3e3a-6a53-4a8e-9a4f-4f0b2a1c9d11"]',
        b"\xed\xa0\x80",  # the surrogate's UTF-8-like bytes, not UTF-8
    ],
)
async def test_forged_cursors_are_422(tenant: Tenant, payload: bytes) -> None:
    sort = "created" if b"created" in payload else "name"
    cursor = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    answer = await tenant.client.get("/v1/customers", params={"cursor": cursor, "sort": sort})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["fields"][0]["field"] == "cursor"


async def test_a_chunked_body_over_the_limit_is_413_like_a_declared_one(tenant: Tenant) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"company_name": "'
        for _ in range(400):
            yield b"x" * 4096
        yield b'", "contact_name": "Ann"}'

    answer = await tenant.client.post(
        "/v1/customers", content=chunks(), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "payload_too_large"


async def test_reference_lists_refuse_control_characters_and_non_iso_currencies(
    tenant: Tenant, customer_db: asyncpg.Pool
) -> None:
    await new_customer(tenant)  # seeds the lists
    before = await stored(customer_db, tenant.tenant_id)
    bad = [
        ("currency", {"values": ["USD", "XXQ"], "default": "USD"}),
        ("currency", {"values": ["usd"]}),
        ("currency", {"values": ["USD!"]}),
        ("category", {"values": ["Retail", "Whole\x07sale"]}),
        ("terms", {"values": ["Net\u200b30"]}),  # a format character, invisible
        ("category", {"values": ["Retail"], "default": "Wholesale"}),
    ]
    for kind, body in bad:
        answer = await tenant.admin.put(f"/v1/reference-lists/{kind}", json=body)
        assert answer.status_code == 422, (kind, body, answer.text)
    assert await stored(customer_db, tenant.tenant_id) == before
    # Every later create still works, and an ISO 4217 list is accepted.
    assert (
        await tenant.admin.put(
            "/v1/reference-lists/currency", json={"values": ["USD", "JPY"], "default": "JPY"}
        )
    ).status_code == 200
    created = await tenant.client.post("/v1/customers", json=minimal_customer())
    assert created.status_code == 201 and created.json()["currency"] == "JPY"


async def test_names_are_nfc_so_duplicates_and_search_behave(tenant: Tenant) -> None:
    nfd = unicodedata.normalize("NFD", "Café Crème")
    nfc = unicodedata.normalize("NFC", "Café Crème")
    assert nfd != nfc
    created = await tenant.client.post(
        "/v1/customers", json=minimal_customer(company_name=nfd, tracking_number=f"T-{nfd}")
    )
    assert created.status_code == 201
    assert created.json()["company_name"] == nfc
    assert created.json()["tracking_number"] == f"T-{nfc}"
    for form in ("NFC", "NFD"):
        searched = unicodedata.normalize(form, "Café")  # type: ignore[arg-type]
        found = await tenant.client.get("/v1/customers", params={"q": searched})
        assert [c["company_name"] for c in found.json()["items"]] == [nfc], form
    # The same tracking number typed the other way is the same number: taken.
    again = await tenant.client.post(
        "/v1/customers", json=minimal_customer(tracking_number=f"T-{nfc}")
    )
    assert again.status_code == 422
    assert again.json()["error"]["fields"][0]["code"] == "taken"


async def test_attachment_names_are_sanitised_keep_their_extension_and_download_safely(
    tenant: Tenant,
) -> None:
    cid = await new_customer(tenant)
    base = f"/v1/customers/{cid}/attachments"
    sent = {
        "../../../../etc/passwd": "passwd",
        "..\\..\\boot.ini.pdf": "boot.ini.pdf",
        "x" * 1000 + ".pdf": "x" * 251 + ".pdf",
        "...": "attachment",
        "Rapport été.pdf": "Rapport été.pdf",
    }
    for name, expected in sent.items():
        up = await tenant.client.post(base, files={"file": (name, PDF, "application/pdf")})
        assert up.status_code == 201, (name, up.text)
        assert up.json()["filename"] == expected
        down = await tenant.client.get(f"{base}/{up.json()['attachment_id']}")
        disposition = down.headers["content-disposition"]
        assert ".." not in disposition and "/" not in disposition.split("filename*")[0]
        assert disposition.startswith("attachment; filename=")
    # Control characters as raw bytes in the part's header (a client that does not escape them).
    raw = (
        b'--fz\r\nContent-Disposition: form-data; name="file"; filename="a\x00b\x1fc.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n" + PDF + b"\r\n--fz--\r\n"
    )
    up = await tenant.client.post(
        base, content=raw, headers={"content-type": "multipart/form-data; boundary=fz"}
    )
    assert up.status_code == 201, up.text
    assert up.json()["filename"] == "abc.pdf"
    [rapport] = [a for a in (await tenant.client.get(base)).json() if a["filename"].startswith("R")]
    down = await tenant.client.get(f"{base}/{rapport['attachment_id']}")
    assert down.headers["content-disposition"] == (
        "attachment; filename=\"Rapport ete.pdf\"; filename*=UTF-8''Rapport%20%C3%A9t%C3%A9.pdf"
    )


async def test_the_openapi_document_lists_every_answer_with_the_error_body(tenant: Tenant) -> None:
    spec = (await tenant.client.get("/openapi.json")).json()
    patch = spec["paths"]["/v1/customers/{customer_id}"]["patch"]["responses"]
    assert {"200", "400", "401", "403", "404", "409", "413", "422"} <= set(patch)
    error = {"$ref": "#/components/schemas/ErrorBody"}
    assert patch["422"]["content"]["application/json"]["schema"] == error
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    metrics = spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    assert spec["paths"]["/v1/customers/export.csv"]["get"]["responses"]["200"]["content"].get(
        "text/csv"
    )


async def test_405_names_every_method_the_path_serves(tenant: Tenant) -> None:
    cid = await new_customer(tenant)
    answer = await tenant.client.delete(f"/v1/customers/{cid}")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, PATCH"
    assert answer.json()["error"]["code"] == "method_not_allowed"


async def test_the_old_unversioned_paths_still_answer_marked_deprecated(tenant: Tenant) -> None:
    cid = await new_customer(tenant)
    old = await tenant.client.get(f"/customers/{cid}")
    new = await tenant.client.get(f"/v1/customers/{cid}")
    assert old.status_code == new.status_code == 200
    assert old.json() == new.json()
    assert old.headers["deprecation"].startswith("@")
    assert old.headers["link"] == f'</v1/customers/{cid}>; rel="successor-version"'
    assert "deprecation" not in new.headers
    created = await tenant.client.post("/v1/customers", json=minimal_customer())
    assert created.headers["location"] == f"/v1/customers/{created.json()['customer_id']}"


async def test_an_empty_parent_id_is_an_unknown_customer_not_a_500(tenant: Tenant) -> None:
    """An empty id was taken for "no parent" by the checks and then failed to store (a 500)."""
    unknown = {"field": "parent_id", "code": "unknown_customer", "message": "no such customer"}
    created = await tenant.client.post("/customers", json=minimal_customer(parent_id=""))
    assert created.status_code == 422
    assert created.json()["error"]["fields"] == [unknown]
    cid = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    patched = await tenant.client.patch(f"/customers/{cid}", json={"parent_id": ""})
    assert patched.status_code == 422
    assert patched.json()["error"]["fields"] == [unknown]
    listed = (await tenant.client.get("/customers")).json()["items"]
    assert [(c["customer_id"], c["version"], c["parent_id"]) for c in listed] == [(cid, 1, None)]
