"""Mapping changes about one QuickBooks customer travel on the keys of different customers, so
qb-sync may apply them in another order than the customer service made them; and pushes of names
QuickBooks takes as one."""

from __future__ import annotations

import asyncio
import uuid

from platform_events.contracts.customer import MappingSaved
from qb_sync.runners.push_side import CONSUMER
from qb_sync.store.mirror import publish_mirror
from tests.qbsync.conftest import wait_for
from tests.qbsync.push.conftest import PushWorld
from tests.support.kafka_io import publish_events


def _saved(
    world: PushWorld,
    qb_id: str,
    choice: str,
    previous: str | None,
    customer_id: str,
    sequence: int,
) -> tuple[MappingSaved, str]:
    """A MappingSaved as the customer service emits it, keyed by its customer."""
    return (
        MappingSaved(
            realm_id=world.realm_id,
            qb_customer_id=qb_id,
            choice=choice,  # type: ignore[arg-type]
            previous_choice=previous,  # type: ignore[arg-type]
            customer_id=customer_id,
            qb_display_name="Shared Depot Co",
            customer_active=True,
            mapping_sequence=sequence,  # type: ignore[call-arg]
        ),
        customer_id,
    )


async def _applied(world: PushWorld, event_id: uuid.UUID) -> None:
    async def seen() -> bool:
        return bool(
            await world.db.fetchval(
                "SELECT true FROM inbox WHERE consumer = $1 AND event_id = $2", CONSUMER, event_id
            )
        )

    await wait_for(seen, 30)


async def _one_quickbooks_customer_two_owners(world: PushWorld) -> tuple[dict, str, str]:
    """A QuickBooks customer qb-sync has mirrored, and two platform customers it has seen."""
    seeded = world.emulator.seed_customer(world.realm_id, "Shared Depot Co")
    async with world.db.acquire() as conn, conn.transaction():
        await publish_mirror(conn, world.tenant_id, world.realm_id, seeded)
    first = (await world.create_customer(company_name="First Owner"))["customer_id"]
    second = (await world.create_customer(company_name="Second Owner"))["customer_id"]
    await world.wait_snapshot(first, company_name="First Owner")
    await world.wait_snapshot(second, company_name="Second Owner")
    return seeded, first, second


async def test_an_older_link_arriving_late_does_not_take_the_quickbooks_customer_back(
    world: PushWorld, kafka_bootstrap: str
) -> None:
    """The form linked "Shared Depot Co" to `first`, then to `second` (which unlinked `first`).
    The second change reached qb-sync first: the first one, arriving late, is stale and must
    neither take the QuickBooks customer from `second` nor push `first`'s values to it."""
    seeded, first, second = await _one_quickbooks_customer_two_owners(world)

    def link(customer_id: str, previous: str | None, sequence: int) -> tuple[MappingSaved, str]:
        return _saved(world, seeded["Id"], "link_existing", previous, customer_id, sequence)

    await publish_events(
        kafka_bootstrap,
        "customer.events",
        [link(second, "link_existing", 2)],
        tenant=world.tenant_id,
    )
    assert (await world.wait_status(second, "synced"))["qb_customer_id"] == seeded["Id"]
    [late] = await publish_events(
        kafka_bootstrap, "customer.events", [link(first, None, 1)], tenant=world.tenant_id
    )

    await _applied(world, late)
    kept = await world.row(second)
    assert kept is not None
    assert (kept["status"], kept["qb_customer_id"]) == ("synced", seeded["Id"])
    stale = await world.row(first)
    assert stale is None or stale["qb_customer_id"] != seeded["Id"]

    # The QuickBooks customer follows `second`.
    await world.customers.patch(f"/customers/{second}", json={"email": "owner2@depot.example"})

    async def emailed() -> bool:
        customer = world.qb_customers()[seeded["Id"]]
        return (customer.get("PrimaryEmailAddr") or {}).get("Address") == "owner2@depot.example"

    await wait_for(emailed, 30)
    assert world.qb_customers()[seeded["Id"]]["DisplayName"] == "Shared Depot Co"


async def test_an_older_link_arriving_after_a_newer_unlink_stays_unlinked(
    world: PushWorld, kafka_bootstrap: str
) -> None:
    """The form linked the QuickBooks customer to `first`, then to `second`, then set it to
    "don't import" (unlinking `second`). `second`'s two changes came first; the late link of
    `first` must not link a QuickBooks customer nobody holds any more."""
    seeded, first, second = await _one_quickbooks_customer_two_owners(world)
    qb_id = seeded["Id"]
    [_, unlinked] = await publish_events(
        kafka_bootstrap,
        "customer.events",
        [
            _saved(world, qb_id, "link_existing", "link_existing", second, 2),
            _saved(world, qb_id, "dont_import", "link_existing", second, 3),
        ],
        tenant=world.tenant_id,
    )
    await _applied(world, unlinked)
    assert await world.row(second) is None
    [late] = await publish_events(
        kafka_bootstrap,
        "customer.events",
        [_saved(world, qb_id, "link_existing", None, first, 1)],
        tenant=world.tenant_id,
    )
    await _applied(world, late)
    stale = await world.row(first)
    assert stale is None or stale["qb_customer_id"] != qb_id


async def test_names_quickbooks_takes_as_one_pushed_at_once_make_one_quickbooks_customer(
    world: PushWorld,
) -> None:
    """Case, outer spaces and a colon (which becomes a space) make one name to QuickBooks."""
    names = ["Harbor: East", "harbor east", " HARBOR EAST "]
    ids = [(await world.create_customer(company_name=n))["customer_id"] for n in names]
    await asyncio.gather(*(world.push(cid) for cid in ids))

    async def settled(cid: str) -> dict | None:
        row = await world.row(cid)
        return row if row and row["status"] in ("synced", "needs_link") else None

    rows = [await wait_for(lambda cid=cid: settled(cid), 30) for cid in ids]
    assert sorted(r["status"] for r in rows) == ["needs_link", "needs_link", "synced"]
    assert len(world.qb_customers()) == 1
    assert sum(world.qb_log().creates_by_name.values()) == 1
