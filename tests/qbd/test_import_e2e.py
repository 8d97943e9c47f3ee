"""QuickBooks Desktop import end to end (issue 12, items 3 and 4): a Web Connector session reads
the company file into the same QuickBooks directory the customer service shows for QuickBooks
Online companies (jobs and sub-jobs by `Parent:Job` FullName, inactive ones too), later refreshes
bring renames and deletions, and the import mapping form (seed 000) works unchanged for the
Desktop company, with seed 003's "create here" rules. Real Kafka, real PostgreSQL, both services,
a SOAP replica, the simulated Web Connector and company file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI

from qbd_simulator.qbxml import QbXmlError
from tests.qbd.desktop_world import (  # noqa: F401 (fixture)
    DesktopCompany,
    desktop_company,
    import_soap_replica,
)
from tests.qbsync.conftest import wait_for
from tests.qbsync.push.conftest import (  # noqa: F401 (fixtures)
    push_app,
    push_customer_app,
    push_emulator,
)

pytestmark = pytest.mark.integration

SEEDED = {
    "Acme Inc",
    "Acme Inc:Warehouse 2",
    "Acme Inc:Warehouse 2:Dock",
    "Jones, Mary",
    "Old Shop",
}
ACME_BILL = {
    "Addr1": "Acme Incorporated",
    "Addr2": "12 Harbour Road",
    "City": "Bristol",
    "State": "Avon",
    "PostalCode": "BS1 4DJ",
    "Country": "UK",
}
DOCK_SHIP = {"Addr1": "Dock 7", "City": "Avonmouth", "PostalCode": "BS11 9AT"}


@pytest.fixture
async def desktop(
    push_app: FastAPI,  # noqa: F811
    push_customer_app: FastAPI,  # noqa: F811
    import_soap_replica: str,  # noqa: F811
) -> AsyncIterator[DesktopCompany]:
    async with desktop_company(push_app, push_customer_app, import_soap_replica) as world:
        yield world


def seed_acme(desktop: DesktopCompany) -> dict[str, str]:
    """A customer with a job and a sub-job, a person without a company name, an inactive one."""
    return {
        "acme": desktop.add_customer(
            "Acme Inc",
            company_name="Acme Incorporated",
            bill=ACME_BILL,
            phone="0117 496 0000",
            email="accounts@acme.test",
            contacts=[
                {
                    "first": "Grace",
                    "last": "Hopper",
                    "refs": {"Main Email": "grace@acme.test", "Mobile": "07700 900001"},
                },
                {"first": "Alan", "last": "Turing", "refs": {"Main Email": "alan@acme.test"}},
            ],
        ),
        "warehouse": desktop.add_customer("Warehouse 2", parent="Acme Inc", bill=ACME_BILL),
        "dock": desktop.add_customer(
            "Dock", parent="Acme Inc:Warehouse 2", bill=ACME_BILL, ship=DOCK_SHIP
        ),
        "jones": desktop.add_customer(
            "Jones, Mary",
            bill={"Addr1": "3 Elm Row", "Addr2": "Flat 2"},
            mobile="07700 900123",
            email="mary@jones.test",
            contact="Mary Jones",
        ),
        "old": desktop.add_customer("Old Shop", active=False),
    }


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["full_name"]: r for r in rows}


async def test_a_web_connector_session_fills_the_directory_the_customer_service_shows(
    desktop: DesktopCompany,
) -> None:
    ids = seed_acme(desktop)
    session = await desktop.refresh_and_sync()
    assert session.methods[-1] == "closeConnection" and session.outcome == "done"

    rows = by_name(await desktop.form_shows(SEEDED))
    acme, dock, jones = rows["Acme Inc"], rows["Acme Inc:Warehouse 2:Dock"], rows["Jones, Mary"]
    assert acme["qb_customer_id"] == ids["acme"]  # the ListID
    assert {r["provider"] for r in rows.values()} == {"qbd"}
    # The link picker: company name else customer name, billing lines 1-2, physical line 1.
    assert (acme["label"], acme["billing_line1"], acme["billing_line2"]) == (
        "Acme Incorporated",
        "Acme Incorporated",
        "12 Harbour Road",
    )
    assert acme["physical_line1"] is None  # no ShipAddress; create-here falls back (below)
    assert (jones["label"], jones["billing_line2"]) == ("Jones, Mary", "Flat 2")
    assert (dock["display_name"], dock["physical_line1"]) == ("Dock", "Dock 7")
    assert rows["Old Shop"]["active"] is False  # ActiveStatus All: inactive ones come too
    assert all(r["choice"] == "dont_import" and r["is_default"] for r in rows.values())

    companies = (await desktop.customers.get("/quickbooks/companies")).json()
    assert {"realm_id": desktop.realm_id, "provider": "qbd", "customers": 5} in companies

    # A later refresh is incremental: a rename, a new job, a deletion; nothing else changes.
    desktop.rename(ids["jones"], "Jones, Mary (Bath)")
    desktop.add_customer("Warehouse 3", parent="Acme Inc")
    desktop.company.delete_customer(ids["old"])
    session = await desktop.refresh_and_sync()
    sent = " ".join(str(c.args) for c in session.calls if c.method == "receiveResponseXML")
    assert "ListDeletedQueryRs" in sent  # deletions are asked for on an incremental refresh
    rows = by_name(
        await desktop.form_shows(
            {
                "Acme Inc",
                "Acme Inc:Warehouse 2",
                "Acme Inc:Warehouse 2:Dock",
                "Jones, Mary (Bath)",
                "Acme Inc:Warehouse 3",
            }
        )
    )
    assert rows["Jones, Mary (Bath)"]["qb_customer_id"] == ids["jones"]


async def test_a_renamed_parent_renames_its_jobs_in_the_directory(
    desktop: DesktopCompany,
) -> None:
    ids = seed_acme(desktop)
    await desktop.refresh_and_sync()
    await desktop.form_shows(SEEDED)
    desktop.rename(ids["acme"], "Acme Holdings")
    await desktop.refresh_and_sync()
    rows = by_name(
        await desktop.form_shows(
            {
                "Acme Holdings",
                "Acme Holdings:Warehouse 2",
                "Acme Holdings:Warehouse 2:Dock",
                "Jones, Mary",
                "Old Shop",
            }
        )
    )
    assert rows["Acme Holdings:Warehouse 2:Dock"]["qb_customer_id"] == ids["dock"]


async def customers_created(desktop: DesktopCompany, created: dict[str, str]) -> dict[str, Any]:
    out = {}
    for qb_id, customer_id in created.items():
        reply = await desktop.customers.get(f"/customers/{customer_id}")
        assert reply.status_code == 200, reply.text
        contacts = await desktop.customers.get(f"/customers/{customer_id}/contacts")
        out[qb_id] = {**reply.json(), "contacts": contacts.json()}
    return out


async def test_the_mapping_form_works_unchanged_for_a_desktop_company(
    desktop: DesktopCompany,
) -> None:
    ids = seed_acme(desktop)
    await desktop.refresh_and_sync()
    await desktop.form_shows(SEEDED)
    existing = await desktop.create_customer("Mary Jones Ltd")

    # The default option previews on the form, then "save all" with per-row choices.
    preview = await desktop.form(default_choice="create_here")
    assert {r["choice"] for r in preview} == {"create_here"}
    reply = await desktop.customers.put(
        f"/quickbooks/companies/{desktop.realm_id}/mappings",
        json={
            "default_choice": "create_here",
            "rows": [
                {"qb_customer_id": ids["old"], "choice": "dont_import"},
                {
                    "qb_customer_id": ids["jones"],
                    "choice": "link_existing",
                    "customer_id": existing,
                },
            ],
        },
    )
    assert reply.status_code == 200, reply.text
    created: dict[str, str] = reply.json()["created_customers"]
    assert set(created) == {ids["acme"], ids["warehouse"], ids["dock"]}

    made = await customers_created(desktop, created)
    acme, warehouse, dock = made[ids["acme"]], made[ids["warehouse"]], made[ids["dock"]]
    # Seed 003: the company name, else the customer name.
    assert acme["company_name"] == "Acme Incorporated"
    assert (warehouse["company_name"], dock["company_name"]) == ("Warehouse 2", "Dock")
    # Jobs become sub-customers of the customers made from their parents.
    assert warehouse["parent_id"] == acme["customer_id"]
    assert dock["parent_id"] == warehouse["customer_id"]
    # Billing from BillAddress; physical from ShipAddress, else BillAddress.
    assert acme["billing_address"]["line1"] == "Acme Incorporated"
    assert acme["billing_address"]["line2"] == "12 Harbour Road"
    assert acme["billing_address"]["postal_code"] == "BS1 4DJ"
    assert acme["delivery_address"] == acme["billing_address"]
    assert dock["delivery_address"]["line1"] == "Dock 7"
    assert dock["billing_address"]["line2"] == "12 Harbour Road"
    # Contacts: name, email, mobile, address, with the billing role.
    contacts = {c["name"]: c for c in acme["contacts"]}
    assert set(contacts) == {"Grace Hopper", "Alan Turing"}
    grace = contacts["Grace Hopper"]
    assert (grace["email"], grace["mobile"], grace["role"]) == (
        "grace@acme.test",
        "07700 900001",
        "billing",
    )
    assert grace["address"]["line2"] == "12 Harbour Road"
    assert grace["is_primary"] and not contacts["Alan Turing"]["is_primary"]
    assert contacts["Alan Turing"]["role"] == "billing"

    form = by_name(await desktop.form())
    assert form["Old Shop"]["choice"] == "dont_import" and not form["Old Shop"]["is_default"]
    assert form["Jones, Mary"]["customer_id"] == existing
    assert form["Acme Inc"]["customer_id"] == acme["customer_id"]

    # The links reach qb-sync (MappingSaved over Kafka): its sync status shows them synced.
    async def synced() -> dict[str, Any] | None:
        row = await desktop.sync_row(existing)
        return row if row and row["status"] == "synced" else None

    row = await wait_for(synced, 30)
    assert row["qb_customer_id"] == ids["jones"]

    # Saving the same form again changes nothing.
    reply = await desktop.customers.put(
        f"/quickbooks/companies/{desktop.realm_id}/mappings",
        json={"default_choice": "create_here", "rows": []},
    )
    assert reply.status_code == 200 and reply.json()["changed_rows"] == 0, reply.text


async def test_create_here_without_contacts_takes_the_customers_own_contact(
    desktop: DesktopCompany,
) -> None:
    ids = seed_acme(desktop)
    await desktop.refresh_and_sync()
    await desktop.form_shows(SEEDED)
    reply = await desktop.customers.put(
        f"/quickbooks/companies/{desktop.realm_id}/mappings",
        json={"rows": [{"qb_customer_id": ids["jones"], "choice": "create_here"}]},
    )
    assert reply.status_code == 200, reply.text
    made = await customers_created(desktop, reply.json()["created_customers"])
    jones = made[ids["jones"]]
    assert jones["company_name"] == "Jones, Mary"  # no company name: the customer name
    assert jones["delivery_address"]["line1"] == "3 Elm Row"  # no ShipAddress: billing
    [contact] = jones["contacts"]
    assert (contact["name"], contact["email"], contact["mobile"], contact["role"]) == (
        "Mary Jones",
        "mary@jones.test",
        "07700 900123",
        "billing",
    )
    assert contact["address"]["line2"] == "Flat 2"


async def test_bad_form_input_for_a_desktop_company_is_a_4xx_and_changes_nothing(
    desktop: DesktopCompany,
) -> None:
    ids = seed_acme(desktop)
    await desktop.refresh_and_sync()
    await desktop.form_shows(SEEDED)
    url = f"/quickbooks/companies/{desktop.realm_id}/mappings"
    bad = [
        {"default_choice": "link_existing"},
        {"rows": [{"qb_customer_id": ids["acme"], "choice": "link_existing"}]},
        {"rows": [{"qb_customer_id": "80000999-1", "choice": "create_here"}]},
        {"rows": [{"qb_customer_id": ids["acme"], "choice": "import_please"}]},
    ]
    for body in bad:
        reply = await desktop.customers.put(url, json=body)
        assert 400 <= reply.status_code < 500, (body, reply.text)
    assert all(r["is_default"] for r in await desktop.form())


async def test_the_pull_status_api_answers_for_a_desktop_company(
    desktop: DesktopCompany,
) -> None:
    """The refresh and pull status routes of QuickBooks Online companies serve a Desktop one."""
    seed_acme(desktop)
    status_url = f"/quickbooks/connections/{desktop.realm_id}/pull"
    reply = await desktop.sync.post(f"/quickbooks/connections/{desktop.realm_id}/refresh")
    assert reply.status_code == 202, reply.text
    status = (await desktop.sync.get(status_url)).json()
    assert (status["import_pending"], status["import_seen"]) == (True, 0)

    # QuickBooks cannot answer: the attempt shows as the import's error, the import stays queued.
    desktop.company.raise_next = QbXmlError("0x80040401", "Could not access QuickBooks.")
    session = await desktop.session()
    assert session.outcome == "error"
    status = (await desktop.sync.get(status_url)).json()
    assert status["import_pending"] is True
    assert "0x80040401" in status["last_error"]

    await desktop.session()
    await desktop.form_shows(SEEDED)
    status = (await desktop.sync.get(status_url)).json()
    assert (status["import_pending"], status["import_seen"], status["last_error"]) == (
        False,
        5,
        None,
    )
    assert status["import_finished_at"] is not None and status["cdc_watermark"] is not None

    other = "00000000-0000-4000-8000-000000000000"  # no connection of this tenant
    assert (await desktop.sync.get(f"/quickbooks/connections/{other}/pull")).status_code == 404
    reply = await desktop.sync.post(f"/quickbooks/connections/{other}/refresh")
    assert reply.status_code == 404, reply.text
