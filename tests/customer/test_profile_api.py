"""Contacts (one primary), append-only notes, attachments (size and content checked)."""

from __future__ import annotations

from tests.customer.conftest import Tenant, minimal_customer

PDF = b"%PDF-1.4\n" + b"0" * 1000


async def new_customer(tenant: Tenant) -> str:
    response = await tenant.client.post("/customers", json=minimal_customer())
    return str(response.json()["customer_id"])


async def test_exactly_one_primary_contact(tenant: Tenant):
    cid = await new_customer(tenant)
    base = f"/customers/{cid}/contacts"
    first = (await tenant.client.post(base, json={"name": "First"})).json()
    assert first["is_primary"] is True  # the first contact is primary
    second = (await tenant.client.post(base, json={"name": "Second", "is_primary": True})).json()
    contacts = (await tenant.client.get(base)).json()
    assert [(c["name"], c["is_primary"]) for c in contacts] == [("First", False), ("Second", True)]
    refused = await tenant.client.patch(
        f"{base}/{second['contact_id']}", json={"is_primary": False}
    )
    assert refused.status_code == 422
    edited = await tenant.client.patch(
        f"{base}/{first['contact_id']}", json={"title": "Buyer", "email": "f@x.test"}
    )
    assert edited.json()["title"] == "Buyer"
    assert (await tenant.client.delete(f"{base}/{second['contact_id']}")).status_code == 204
    contacts = (await tenant.client.get(base)).json()
    assert [(c["name"], c["is_primary"]) for c in contacts] == [("First", True)]
    assert (await tenant.client.delete(f"{base}/{second['contact_id']}")).status_code == 404


async def test_notes_are_timestamped_and_append_only(tenant: Tenant):
    cid = await new_customer(tenant)
    base = f"/customers/{cid}/notes"
    for text in ("called", "emailed"):
        response = await tenant.client.post(base, json={"author": "sam", "body": text})
        assert response.status_code == 201
    notes = (await tenant.client.get(base)).json()
    assert [(n["author"], n["body"]) for n in notes] == [("sam", "called"), ("sam", "emailed")]
    assert all(n["created_at"] for n in notes)
    note_id = notes[0]["note_id"]
    assert (await tenant.client.delete(f"{base}/{note_id}")).status_code in (404, 405)
    assert (await tenant.client.post(base, json={"body": "no author"})).status_code == 422


async def test_attachments_upload_list_download(tenant: Tenant, other_tenant: Tenant):
    cid = await new_customer(tenant)
    base = f"/customers/{cid}/attachments"
    files = {"file": ("contract.pdf", PDF, "application/pdf")}
    uploaded = await tenant.client.post(base, files=files)
    assert uploaded.status_code == 201, uploaded.text
    listed = (await tenant.client.get(base)).json()
    assert [(a["filename"], a["size_bytes"]) for a in listed] == [("contract.pdf", len(PDF))]
    download = await tenant.client.get(f"{base}/{listed[0]['attachment_id']}")
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    stolen = await other_tenant.client.get(f"{base}/{listed[0]['attachment_id']}")
    assert stolen.status_code == 404


async def test_attachments_refuse_wrong_types_and_oversize_files(tenant: Tenant):
    cid = await new_customer(tenant)
    base = f"/customers/{cid}/attachments"
    exe = await tenant.client.post(
        base, files={"file": ("x.exe", b"MZ...", "application/x-msdownload")}
    )
    assert exe.status_code == 422
    fake_pdf = await tenant.client.post(
        base, files={"file": ("x.pdf", b"<html>", "application/pdf")}
    )
    assert fake_pdf.status_code == 422
    assert fake_pdf.json()["error"]["fields"][0]["field"] == "file"
    big = b"%PDF-" + b"0" * 250_000  # the test app allows 200,000 bytes
    too_big = await tenant.client.post(base, files={"file": ("big.pdf", big, "application/pdf")})
    assert too_big.status_code == 422
    huge = b"%PDF-" + b"0" * 1_300_000  # beyond the body limit altogether
    assert (
        await tenant.client.post(base, files={"file": ("huge.pdf", huge, "application/pdf")})
    ).status_code == 413
    csv_ok = await tenant.client.post(base, files={"file": ("a.csv", b"a,b\n1,2\n", "text/csv")})
    assert csv_ok.status_code == 201
