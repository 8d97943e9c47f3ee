"""The create path keeps reference lists in memory and numbers customers from a block: what a
client sees must be what the lists and the table hold at that moment, in every process."""

from __future__ import annotations

import asyncio

import asyncpg
from fastapi import FastAPI

from customer_service.store.reference import replace_reference_list
from tests.customer.conftest import Tenant, minimal_customer, outbox_events

COUNT = "SELECT count(*) FROM customers WHERE tenant_id = $1"


async def test_a_list_another_instance_changed_applies_to_the_next_create(
    tenant: Tenant, customer_db: asyncpg.Pool
):
    first = await tenant.client.post("/customers", json=minimal_customer(category="Wholesale"))
    assert first.status_code == 201, first.text
    # Written as another instance of the service would: this process is not told.
    async with customer_db.acquire() as conn, conn.transaction():
        await replace_reference_list(
            conn, tenant.tenant_id, "category", ["Online", "Retail"], "Online"
        )
    defaulted = await tenant.client.post("/customers", json=minimal_customer())
    assert defaulted.status_code == 201, defaulted.text
    assert defaulted.json()["category"] == "Online"
    removed = await tenant.client.post("/customers", json=minimal_customer(category="Wholesale"))
    assert removed.status_code == 422
    assert removed.json()["error"]["fields"] == [
        {
            "field": "category",
            "code": "unknown_reference",
            "message": "'Wholesale' is not on this tenant's category list",
        }
    ]
    assert await customer_db.fetchval(COUNT, tenant.tenant_id) == 2


async def test_a_value_another_instance_added_is_accepted_at_once(
    tenant: Tenant, customer_db: asyncpg.Pool
):
    assert (await tenant.client.post("/customers", json=minimal_customer())).status_code == 201
    async with customer_db.acquire() as conn, conn.transaction():
        await replace_reference_list(conn, tenant.tenant_id, "carrier", ["Pigeon"], None)
    created = await tenant.client.post("/customers", json=minimal_customer(carrier="Pigeon"))
    assert created.status_code == 201, created.text
    assert created.json()["carrier"] == "Pigeon"


async def test_a_generated_number_a_client_took_by_hand_is_skipped(
    customer_app: FastAPI, tenant: Tenant, customer_db: asyncpg.Pool
):
    assert (await tenant.client.post("/customers", json=minimal_customer())).status_code == 201
    upcoming = customer_app.state.fast_create.numbers[0]
    by_hand = await tenant.client.post(
        "/customers", json=minimal_customer(tracking_number=upcoming)
    )
    assert by_hand.status_code == 201, by_hand.text
    generated = await tenant.client.post("/customers", json=minimal_customer())
    assert generated.status_code == 201, generated.text
    assert generated.json()["tracking_number"] not in (upcoming, "")
    assert await customer_db.fetchval(COUNT, tenant.tenant_id) == 3


async def test_the_create_answer_is_what_a_read_shows(tenant: Tenant):
    created = await tenant.client.post("/customers", json=minimal_customer(phone="555 0100"))
    assert created.status_code == 201
    read = await tenant.client.get(created.headers["location"])
    assert read.status_code == 200
    assert created.json() == read.json()
    assert created.headers["etag"] == read.headers["etag"] == '"1"'
    assert created.headers["content-type"] == read.headers["content-type"]


async def test_concurrent_creates_with_one_tracking_number_store_one_customer_and_one_event(
    tenant: Tenant, customer_db: asyncpg.Pool
):
    body = minimal_customer(tracking_number="RACE-1")
    answers = await asyncio.gather(*(tenant.client.post("/customers", json=body) for _ in range(8)))
    assert sorted(a.status_code for a in answers) == [201] + [422] * 7
    refused = next(a for a in answers if a.status_code == 422)
    assert refused.json()["error"]["fields"] == [
        {
            "field": "tracking_number",
            "code": "taken",
            "message": "tracking number 'RACE-1' is taken",
        }
    ]
    assert await customer_db.fetchval(COUNT, tenant.tenant_id) == 1
    [winner] = [a.json()["customer_id"] for a in answers if a.status_code == 201]
    assert [e["type"] for e in await outbox_events(customer_db, winner)] == ["customer.created.v1"]
