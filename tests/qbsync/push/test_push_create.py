"""A platform customer pushed to QuickBooks: exactly one QuickBooks customer, linked back."""

from __future__ import annotations

import json
import uuid

from qb_sync.store.push.intent import customers_changed, request_push
from qb_sync.store.push.snapshots import save_snapshots
from tests.customer.kafka_tail import TopicTail
from tests.qbsync.conftest import wait_for
from tests.qbsync.push.conftest import PushWorld


async def test_push_creates_one_quickbooks_customer_and_the_customer_service_shows_the_link(
    world: PushWorld,
) -> None:
    customer = await world.create_customer(
        company_name="Globex Corporation",
        email="ap@globex.example",
        phone="+1 555 0100",
        billing_address={"line1": "1 Main St", "city": "Springfield", "country": "US"},
    )
    cid = customer["customer_id"]
    kafka = world.app.state.runtime.settings.kafka_bootstrap_servers
    async with TopicTail(kafka, "qb.customers") as mirror:
        await world.push(cid)
        row = await world.wait_status(cid, "synced")
        created = world.qb_named("Globex Corporation")
        assert len(created) == 1
        qb = created[0]
        assert row["qb_customer_id"] == qb["Id"]
        key = f"{world.realm_id}:{qb['Id']}".encode()
        [mirrored] = await mirror.collect(lambda r: r.key == key, expected=1)
    # The mirror of the new QuickBooks customer names its platform customer: a consumer that
    # sees it before qb.sync's QuickBooksCustomerLinked knows it is not unmapped.
    assert json.loads(mirrored.value)["data"]["linked_customer_id"] == cid
    assert qb["PrimaryEmailAddr"]["Address"] == "ap@globex.example"
    assert qb["PrimaryPhone"]["FreeFormNumber"] == "+1 555 0100"
    assert qb["BillAddr"]["City"] == "Springfield"
    assert qb["CurrencyRef"]["value"] == customer["currency"]
    await world.wait_linked_in_customer_service(cid, qb["Id"])
    got = (await world.customers.get(f"/customers/{cid}")).json()
    assert got["linked_to_quickbooks"] is True


async def test_an_unmapped_quickbooks_customer_with_the_exact_name_is_linked_not_duplicated(
    world: PushWorld,
) -> None:
    existing = world.emulator.seed_customer(world.realm_id, "Initech")
    cid = (await world.create_customer(company_name="Initech"))["customer_id"]
    await world.push(cid)

    row = await world.wait_status(cid, "synced")
    assert row["qb_customer_id"] == existing["Id"]
    assert len(world.qb_named("Initech")) == 1
    await world.wait_linked_in_customer_service(cid, existing["Id"])


async def test_names_with_quotes_backslashes_and_colons_are_found_and_created_once(
    world: PushWorld,
) -> None:
    tricky = 'O\'Brien \\ Sons "Ltd"'
    seeded = world.emulator.seed_customer(world.realm_id, tricky)
    first = (await world.create_customer(company_name=tricky))["customer_id"]
    second = (await world.create_customer(company_name="Smith's: Bakery\\"))["customer_id"]
    await world.push(first)
    await world.push(second)

    assert (await world.wait_status(first, "synced"))["qb_customer_id"] == seeded["Id"]
    row = await world.wait_status(second, "synced")
    # `:` is not allowed in a QuickBooks name: replaced by a space, never rejected.
    assert world.qb_customers()[row["qb_customer_id"]]["DisplayName"] == "Smith's Bakery\\"
    assert len(world.qb_named(tricky)) == 1


async def test_a_push_that_came_before_the_customer_waits_longer_each_time_and_goes_once_it_comes(
    world: PushWorld,
) -> None:
    """The mapping (customer.mappings) and the customer (customer.events) are on two topics: a
    push can arrive first. It waits, polling ever less often (2 s, 4 s, ... at most a minute),
    and goes as soon as the customer's data arrives, whatever the wait had grown to."""
    cid = str(uuid.uuid4())
    async with world.db.acquire() as conn:
        await request_push(conn, world.tenant_id, world.realm_id, cid, str(uuid.uuid4()))

    async def waits() -> list[float]:
        row = await world.db.fetchrow(
            """SELECT last_error_code, EXTRACT(EPOCH FROM due_at - updated_at)::float8 AS wait
                 FROM push_mappings WHERE tenant_id = $1 AND customer_id = $2""",
            world.tenant_id,
            cid,
        )
        if row["last_error_code"] == "customer_data" and row["wait"] > 0:
            seen.append(round(row["wait"]))
        return seen

    seen: list[float] = []

    async def grown() -> bool:
        await waits()
        return bool(seen) and max(seen) >= 8

    await wait_for(grown, 20)
    assert sorted(set(seen))[:3] == [2, 4, 8]
    assert world.qb_named("Arrived Late Ltd") == []

    snapshot = {
        "customer_id": cid,
        "version": 1,
        "company_name": "Arrived Late Ltd",
        "active": True,
        "currency": "USD",
    }
    async with world.db.acquire() as conn, conn.transaction():
        for changed in await save_snapshots(conn, [(world.tenant_id, snapshot)]):
            await customers_changed(conn, [changed])
    # Within 5 s: not after the 8-16 s the wait had grown to.
    row = await world.wait_status(cid, "synced", timeout=5)
    assert [c["Id"] for c in world.qb_named("Arrived Late Ltd")] == [row["qb_customer_id"]]
