"""Link by exact name for a QuickBooks Desktop company end to end (issue 12, item 5; seed 004):
the Customer Name, as its FullName (`Parent:Job` for a job), must match byte for byte, spaces and
case included; a miss is a 422 with the closest names and stores nothing; the link keeps the
ListID, so a rename in QuickBooks or on the platform leaves it in place. Outcomes show in
qb-sync's sync status API as for QuickBooks Online. Real Kafka, real PostgreSQL, both services,
a SOAP replica, the simulated Web Connector and company file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI

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

NAMES = {"Acme Inc", "Acme Inc:Warehouse 2", "Jones, Mary", "Old Shop"}


@pytest.fixture
async def desktop(
    push_app: FastAPI,  # noqa: F811
    push_customer_app: FastAPI,  # noqa: F811
    import_soap_replica: str,  # noqa: F811
) -> AsyncIterator[DesktopCompany]:
    async with desktop_company(push_app, push_customer_app, import_soap_replica) as world:
        world.ids = {  # type: ignore[attr-defined]
            "acme": world.add_customer("Acme Inc", company_name="Acme Incorporated"),
            "warehouse": world.add_customer("Warehouse 2", parent="Acme Inc"),
            "jones": world.add_customer("Jones, Mary"),
            "old": world.add_customer("Old Shop", active=False),
        }
        await world.refresh_and_sync()
        await world.form_shows(NAMES)
        yield world


async def link(desktop: DesktopCompany, customer_id: str, name: str) -> Any:
    return await desktop.customers.post(
        f"/customers/{customer_id}/quickbooks/link",
        json={"realm_id": desktop.realm_id, "display_name": name},
    )


async def links_of(desktop: DesktopCompany, customer_id: str) -> list[dict[str, Any]]:
    reply = await desktop.customers.get(f"/customers/{customer_id}/quickbooks")
    assert reply.status_code == 200, reply.text
    return [m for m in reply.json() if m["realm_id"] == desktop.realm_id]


async def synced_in_qb_sync(desktop: DesktopCompany, customer_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        row = await desktop.sync_row(customer_id)
        return row if row and row["status"] == "synced" else None

    return await wait_for(probe, 30)  # type: ignore[no-any-return]


async def test_a_job_links_by_its_exact_full_name_and_keeps_the_list_id(
    desktop: DesktopCompany,
) -> None:
    ids: dict[str, str] = desktop.ids  # type: ignore[attr-defined]
    customer = await desktop.create_customer("Warehouse Two")
    reply = await link(desktop, customer, "Acme Inc:Warehouse 2")
    assert reply.status_code == 200, reply.text
    assert reply.json()["qb_customer_id"] == ids["warehouse"]  # the ListID is what is stored
    [mapping] = await links_of(desktop, customer)
    assert (mapping["qb_customer_id"], mapping["choice"]) == (ids["warehouse"], "link_existing")
    row = await synced_in_qb_sync(desktop, customer)  # the same sync status API as Online
    assert row["qb_customer_id"] == ids["warehouse"]
    form = {r["full_name"]: r for r in await desktop.form()}
    assert form["Acme Inc:Warehouse 2"]["customer_id"] == customer


@pytest.mark.parametrize(
    ("typed", "closest"),
    [
        pytest.param("Acme Inc: Warehouse 2", "Acme Inc:Warehouse 2", id="an-extra-space"),
        pytest.param("Acme Inc ", "Acme Inc", id="a-trailing-space"),
        pytest.param("acme inc", "Acme Inc", id="another-case"),
        pytest.param("Warehouse 2", "Acme Inc:Warehouse 2", id="a-job-without-its-parent"),
        pytest.param("Jones,  Mary", "Jones, Mary", id="a-double-space"),
    ],
)
async def test_a_near_miss_is_a_422_with_the_closest_names_and_links_nothing(
    desktop: DesktopCompany, typed: str, closest: str
) -> None:
    customer = await desktop.create_customer("Someone")
    reply = await link(desktop, customer, typed)
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert closest in error["closest_names"], error
    assert [f["code"] for f in error["fields"]] == ["no_exact_match"], error
    assert await links_of(desktop, customer) == []
    assert await desktop.sync_row(customer) is None


async def test_a_rename_in_quickbooks_desktop_keeps_the_link(desktop: DesktopCompany) -> None:
    ids: dict[str, str] = desktop.ids  # type: ignore[attr-defined]
    customer = await desktop.create_customer("Mary Jones Ltd")
    reply = await link(desktop, customer, "Jones, Mary")
    assert reply.status_code == 200, reply.text
    await synced_in_qb_sync(desktop, customer)

    desktop.rename(ids["jones"], "Jones, Mary (Bath)")
    await desktop.refresh_and_sync()
    await desktop.form_shows((NAMES - {"Jones, Mary"}) | {"Jones, Mary (Bath)"})

    async def renamed_and_still_linked() -> list[dict[str, Any]] | None:
        found = await links_of(desktop, customer)
        return found if found and found[0]["qb_display_name"] == "Jones, Mary (Bath)" else None

    [mapping] = await wait_for(renamed_and_still_linked, 30)
    assert mapping["qb_customer_id"] == ids["jones"]
    row = await synced_in_qb_sync(desktop, customer)
    assert row["qb_customer_id"] == ids["jones"]
    # The old name no longer links anything; the new one names the customer already linked.
    assert (await link(desktop, customer, "Jones, Mary")).status_code == 422
    other = await desktop.create_customer("Someone Else")
    assert (await link(desktop, other, "Jones, Mary (Bath)")).status_code == 409


async def test_a_rename_on_the_platform_keeps_the_link(desktop: DesktopCompany) -> None:
    ids: dict[str, str] = desktop.ids  # type: ignore[attr-defined]
    customer = await desktop.create_customer("Acme Trading")
    reply = await link(desktop, customer, "Acme Inc")
    assert reply.status_code == 200, reply.text
    await synced_in_qb_sync(desktop, customer)

    reply = await desktop.customers.patch(
        f"/customers/{customer}", json={"company_name": "Acme Trading Group"}
    )
    assert reply.status_code == 200, reply.text

    async def pending() -> bool:
        row = await desktop.sync_row(customer)
        return bool(row and row["status"] == "pending")

    await wait_for(pending, 30)  # the change reached qb-sync over Kafka
    for _ in range(6):  # scheduled Web Connector runs carry it
        await desktop.session()
        row = await desktop.sync_row(customer)
        if row and row["status"] != "pending":
            break
    row = await synced_in_qb_sync(desktop, customer)
    assert row["qb_customer_id"] == ids["acme"]
    [mapping] = await links_of(desktop, customer)
    assert mapping["qb_customer_id"] == ids["acme"]
    # The rename went to the same QuickBooks customer (by its ListID), no second one was made,
    # and its job follows it.
    assert len(desktop.company.customers) == len(NAMES)
    assert desktop.company.customers[ids["acme"]].text("CompanyName") == "Acme Trading Group"
    renamed = desktop.company.customers[ids["acme"]].name
    assert renamed != "Acme Inc"
    await desktop.refresh_and_sync()
    await desktop.form_shows(
        (NAMES - {"Acme Inc", "Acme Inc:Warehouse 2"}) | {renamed, f"{renamed}:Warehouse 2"}
    )
    [mapping] = await links_of(desktop, customer)
    assert mapping["qb_customer_id"] == ids["acme"]


async def test_bad_link_input_is_a_4xx_and_changes_nothing(desktop: DesktopCompany) -> None:
    ids: dict[str, str] = desktop.ids  # type: ignore[attr-defined]
    first = await desktop.create_customer("First")
    assert (await link(desktop, first, "Acme Inc")).status_code == 200
    second = await desktop.create_customer("Second")
    cases = [
        (second, {"realm_id": desktop.realm_id, "display_name": "Acme Inc"}, 409),  # taken
        (first, {"realm_id": desktop.realm_id, "display_name": "Jones, Mary"}, 409),  # linked
        (second, {"realm_id": desktop.realm_id, "display_name": ""}, 422),
        (second, {"realm_id": desktop.realm_id}, 422),
        (second, {"realm_id": "", "display_name": "Acme Inc"}, 422),
        (second, {"realm_id": desktop.realm_id, "display_name": "x", "extra": 1}, 422),
        ("not-a-uuid", {"realm_id": desktop.realm_id, "display_name": "Acme Inc"}, 404),
    ]
    for customer_id, body, status in cases:
        reply = await desktop.customers.post(f"/customers/{customer_id}/quickbooks/link", json=body)
        assert reply.status_code == status, (body, reply.text)
        assert reply.json()["error"]["code"], reply.text  # machine-readable
    assert await links_of(desktop, second) == []
    [mapping] = await links_of(desktop, first)
    assert mapping["qb_customer_id"] == ids["acme"]
