"""Contacts (one primary), append-only notes, attachments (size and content checked)."""

from __future__ import annotations

from urllib.parse import unquote

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
        response = await tenant.client.post(base, json={"body": text})
        assert response.status_code == 201
    await tenant.admin.post(base, json={"body": "approved"})
    notes = (await tenant.client.get(base)).json()
    # The author is the token's name, whoever the client claims to be.
    assert [(n["author"], n["body"]) for n in notes] == [
        ("sam's app", "called"),
        ("sam's app", "emailed"),
        ("admin console", "approved"),
    ]
    assert all(n["created_at"] for n in notes)
    note_id = notes[0]["note_id"]
    assert (await tenant.client.delete(f"{base}/{note_id}")).status_code in (404, 405)
    forged = await tenant.client.post(base, json={"author": "the CEO", "body": "x"})
    assert forged.status_code == 422
    assert forged.json()["error"]["fields"][0]["field"] == "author"
    assert len((await tenant.client.get(base)).json()) == 3


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
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "payload_too_large"
    assert too_big.json()["error"]["limit_bytes"] == 200_000
    huge = b"%PDF-" + b"0" * 1_300_000  # beyond the body limit altogether
    assert (
        await tenant.client.post(base, files={"file": ("huge.pdf", huge, "application/pdf")})
    ).status_code == 413
    csv_ok = await tenant.client.post(base, files={"file": ("a.csv", b"a,b\n1,2\n", "text/csv")})
    assert csv_ok.status_code == 201
    names = [a["filename"] for a in (await tenant.client.get(base)).json()]
    assert names == ["a.csv"]  # nothing refused was stored


async def test_a_non_latin_filename_downloads_with_its_exact_name(tenant: Tenant):
    cid = await new_customer(tenant)
    base = f"/customers/{cid}/attachments"
    name = "Überweisung \u2013 日本.pdf"  # an en dash, as a word processor types it
    uploaded = await tenant.client.post(base, files={"file": (name, PDF, "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["filename"] == name
    download = await tenant.client.get(f"{base}/{uploaded.json()['attachment_id']}")
    assert download.status_code == 200 and download.content == PDF
    disposition = download.headers["content-disposition"]
    fallback, encoded = disposition.split("; ")[1:]
    assert fallback == 'filename="Uberweisung _ __.pdf"'
    assert encoded.startswith("filename*=UTF-8''")
    assert unquote(encoded.removeprefix("filename*=UTF-8''")) == name


async def test_another_tenant_cannot_touch_contacts_notes_or_attachments(
    tenant: Tenant, other_tenant: Tenant
):
    cid = await new_customer(tenant)
    contact = (
        await tenant.client.post(f"/customers/{cid}/contacts", json={"name": "Only Mine"})
    ).json()
    await tenant.client.post(f"/customers/{cid}/notes", json={"body": "private"})
    contacts, notes = f"/customers/{cid}/contacts", f"/customers/{cid}/notes"
    intruder = other_tenant.client
    attempts = [
        await intruder.get(contacts),
        await intruder.post(contacts, json={"name": "Intruder", "is_primary": True}),
        await intruder.patch(f"{contacts}/{contact['contact_id']}", json={"name": "Changed"}),
        await intruder.delete(f"{contacts}/{contact['contact_id']}"),
        await intruder.get(notes),
        await intruder.post(notes, json={"body": "planted"}),
        await intruder.get(f"/customers/{cid}/attachments"),
        await intruder.post(
            f"/customers/{cid}/attachments", files={"file": ("x.pdf", PDF, "application/pdf")}
        ),
    ]
    assert [r.status_code for r in attempts] == [404] * len(attempts)
    # The other tenant's own customer cannot reach this tenant's contact by id either.
    theirs = await new_customer(other_tenant)
    cross = await intruder.patch(
        f"/customers/{theirs}/contacts/{contact['contact_id']}", json={"name": "Changed"}
    )
    assert cross.status_code == 404
    assert [(c["name"], c["is_primary"]) for c in (await tenant.client.get(contacts)).json()] == [
        ("Only Mine", True)
    ]
    assert [n["body"] for n in (await tenant.client.get(notes)).json()] == ["private"]
    assert (await tenant.client.get(f"/customers/{cid}/attachments")).json() == []
