"""The issue's "Done when", against the real broker and database."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

import customer_service.store.outbox as outbox_module
from tests.customer.conftest import Tenant, minimal_customer, outbox_events
from tests.customer.kafka_tail import TopicTail
from tests.customer.test_quickbooks import filled_directory, qb_customer


async def test_customer_created_over_http_appears_on_kafka_keyed_by_its_id(
    kafka_bootstrap, tenant: Tenant
):
    async with TopicTail(kafka_bootstrap, "customer.events") as tail:
        response = await tenant.client.post(
            "/customers", json=minimal_customer(), headers={"X-Correlation-Id": "corr-e2e-1"}
        )
        cid = response.json()["customer_id"]
        [record] = await tail.collect(lambda r: r.key == cid.encode(), expected=1)
    envelope = json.loads(record.value)
    assert envelope["type"] == "customer.created.v1"
    assert envelope["specversion"] == "1.0"
    assert envelope["source"] == "customer"
    assert envelope["subject"] == cid
    assert envelope["tenant_id"] == tenant.tenant_id
    assert envelope["sequence"] == 1
    assert envelope["correlation_id"] == "corr-e2e-1"
    uuid.UUID(envelope["id"])
    assert envelope["time"]
    assert envelope["data"]["customer"]["customer_id"] == cid
    assert envelope["data"]["customer"]["version"] == 1
    headers = {k: bytes(v).decode() for k, v in record.headers}
    assert headers["ce_type"] == "customer.created.v1"
    assert headers["ce_id"] == envelope["id"]
    assert headers["correlation_id"] == "corr-e2e-1"


async def test_inactivation_shows_in_the_list_and_in_the_event(kafka_bootstrap, tenant: Tenant):
    cid = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    async with TopicTail(kafka_bootstrap, "customer.events") as tail:
        await tenant.client.post(f"/customers/{cid}/inactivate", json={"reason": "moved away"})
        # The relay may publish CustomerCreated after the tail started: wait for the inactivation.
        [record] = await tail.collect(
            lambda r: (
                r.key == cid.encode() and ("ce_type", b"customer.inactivated.v1") in r.headers
            ),
            expected=1,
        )
    envelope = json.loads(record.value)
    assert envelope["type"] == "customer.inactivated.v1"
    assert envelope["data"]["customer"]["active"] is False
    assert envelope["data"]["reason"] == "moved away"
    assert envelope["sequence"] == 2
    items = (await tenant.client.get("/customers")).json()["items"]
    assert [(c["customer_id"], c["active"]) for c in items] == [(cid, False)]


async def test_500_create_here_rows_make_500_customers_and_1000_events_in_one_transaction(
    kafka_bootstrap, tenant: Tenant, customer_db
):
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    await filled_directory(
        kafka_bootstrap,
        tenant,
        customer_db,
        realm,
        [qb_customer(realm, str(i), f"Imported {i:03d}") for i in range(500)],
    )
    async with TopicTail(kafka_bootstrap, "customer.events") as tail:
        response = await tenant.client.put(
            f"/quickbooks/companies/{realm}/mappings",
            json={
                "rows": [{"qb_customer_id": str(i), "choice": "create_here"} for i in range(500)]
            },
        )
        assert response.status_code == 200, response.text
        created = set(response.json()["created_customers"].values())
        assert len(created) == 500
        records = await tail.collect(lambda r: r.key.decode() in created, expected=1000)
    assert len(records) == 1000
    types = sorted(json.loads(r.value)["type"] for r in records)
    assert types.count("customer.created.v1") == 500
    assert types.count("customer.mapping-saved.v1") == 500
    # One transaction: every customer row and every outbox row carry the same transaction id.
    xids = await customer_db.fetch(
        "SELECT DISTINCT xmin::text AS x FROM customers WHERE tenant_id = $1", tenant.tenant_id
    )
    assert len(xids) == 1
    outbox_xids = await customer_db.fetch(
        "SELECT DISTINCT xmin::text AS x FROM test_outbox_copy WHERE key = ANY($1)",
        list(created),
    )
    assert [r["x"] for r in outbox_xids] == [xids[0]["x"]]
    count = await customer_db.fetchval(
        "SELECT count(*) FROM customers WHERE tenant_id = $1", tenant.tenant_id
    )
    assert count == 500


@pytest.fixture
async def failing_outbox(customer_db: asyncpg.Pool, tenant: Tenant) -> AsyncIterator[None]:
    """PostgreSQL refuses the outbox row of this tenant's events, after the customer row was
    written in the same transaction (the create writes both in one statement)."""
    name = f"fail_outbox_{uuid.uuid4().hex[:8]}"
    await customer_db.execute(
        f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF convert_from(NEW.payload, 'UTF8') LIKE '%{tenant.tenant_id}%' THEN
                    RAISE EXCEPTION 'injected failure of the outbox write';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER {name} BEFORE INSERT ON outbox
                FOR EACH ROW EXECUTE FUNCTION {name}();"""
    )
    try:
        yield
    finally:
        await customer_db.execute(f"DROP TRIGGER {name} ON outbox; DROP FUNCTION {name}()")


def tolerant_client(app: FastAPI, tenant: Tenant) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://customer",
        headers=dict(tenant.client.headers),
    )


async def test_a_failed_outbox_write_leaves_no_customer_and_no_event(
    customer_app, tenant: Tenant, customer_db, failing_outbox
):
    async with tolerant_client(customer_app, tenant) as client:
        response = await client.post("/customers", json=minimal_customer(tracking_number="F-1"))
    assert response.status_code == 500
    assert (
        await customer_db.fetchval(
            "SELECT count(*) FROM customers WHERE tenant_id = $1", tenant.tenant_id
        )
        == 0
    )
    assert await events_mentioning(customer_db, tenant.tenant_id) == 0


async def test_the_same_check_counts_a_customer_and_event_that_were_written(
    tenant: Tenant, customer_db
):
    """So the zeros of the test above mean something."""
    assert (await tenant.client.post("/customers", json=minimal_customer())).status_code == 201
    count = "SELECT count(*) FROM customers WHERE tenant_id = $1"
    assert await customer_db.fetchval(count, tenant.tenant_id) == 1
    assert await events_mentioning(customer_db, tenant.tenant_id) == 1


async def events_mentioning(pool, text: str) -> int:  # type: ignore[no-untyped-def]
    """Outbox copies whose JSON payload contains `text` (payload is bytea: decode it first)."""
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM test_outbox_copy "
            "WHERE convert_from(payload, 'UTF8') LIKE '%' || $1 || '%'",
            text,
        )
    )


async def test_a_failed_outbox_write_leaves_updates_and_mappings_unapplied(
    customer_app, kafka_bootstrap, tenant: Tenant, customer_db, monkeypatch
):
    cid = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    closed = (await tenant.client.post("/customers", json=minimal_customer())).json()["customer_id"]
    assert (await tenant.client.post(f"/customers/{closed}/inactivate")).status_code == 200
    realm = f"realm-{uuid.uuid4().hex[:6]}"
    await filled_directory(
        kafka_bootstrap, tenant, customer_db, realm, [qb_customer(realm, "1", "One")]
    )

    async def boom(conn, events):  # type: ignore[no-untyped-def]
        raise RuntimeError("injected")

    monkeypatch.setattr(outbox_module, "add_to_outbox", boom)
    async with tolerant_client(customer_app, tenant) as client:
        assert (await client.patch(f"/customers/{cid}", json={"phone": "1"})).status_code == 500
        assert (await client.post(f"/customers/{cid}/inactivate")).status_code == 500
        saved = await client.put(
            f"/quickbooks/companies/{realm}/mappings", json={"default_choice": "create_here"}
        )
        assert saved.status_code == 500
        pushed = await client.post(f"/customers/{cid}/quickbooks/push", json={"realm_id": realm})
        assert pushed.status_code == 500
        linked = await client.post(
            f"/customers/{cid}/quickbooks/link", json={"realm_id": realm, "display_name": "One"}
        )
        assert linked.status_code == 500
        assert (await client.post(f"/customers/{closed}/reactivate")).status_code == 500
    monkeypatch.undo()
    got = (await tenant.client.get(f"/customers/{cid}")).json()
    assert (got["version"], got["phone"], got["active"]) == (1, None, True)
    assert got["linked_to_quickbooks"] is False
    still_closed = (await tenant.client.get(f"/customers/{closed}")).json()
    assert (still_closed["version"], still_closed["active"]) == (2, False)
    assert [e["type"] for e in await outbox_events(customer_db, closed)] == [
        "customer.created.v1",
        "customer.inactivated.v1",
    ]
    assert (
        await customer_db.fetchval(
            "SELECT count(*) FROM customers WHERE tenant_id = $1", tenant.tenant_id
        )
        == 2
    )
    assert (
        await customer_db.fetchval(
            "SELECT count(*) FROM qb_mappings WHERE tenant_id = $1", tenant.tenant_id
        )
        == 0
    )
    assert [e["type"] for e in await outbox_events(customer_db, cid)] == ["customer.created.v1"]
