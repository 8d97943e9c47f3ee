"""customer.events -> push intent, inside the consumer's transaction (group `qb-sync`).

Only intent is recorded here (no QuickBooks call in a consumer transaction):
- Created/Updated/Inactivated/Reactivated: keep the newest snapshot; linked rows whose
  QuickBooks fields changed become pending. An unlinked customer is never pushed on its own: a
  "create here" customer already exists in QuickBooks, and pushing is the user's choice.
- MappingSaved push_to_quickbooks: a pending row whose create requestid is derived from this
  event (uuid5 of realm, customer and the event id), stored before any call.
- MappingSaved create_here / link_existing: record the link as synced (no call).
- MappingSaved dont_import with a customer: unlink.
- A link older (mapping_sequence) than a change of its QuickBooks customer applied already
  arrived late: it only unlinks its customer.
"""

from __future__ import annotations

import asyncpg

from platform_events.contracts.customer import (
    CustomerCreated,
    CustomerInactivated,
    CustomerReactivated,
    CustomerUpdated,
    MappingSaved,
)
from platform_kit.inbox import Failure, InboundEvent, new_event_ids
from qb_sync.store.push.intent import (
    customer_changed,
    customers_changed,
    newer_mapping,
    record_link,
    request_push,
    unlink,
)
from qb_sync.store.push.snapshots import save_snapshot, save_snapshots

SnapshotEvent = CustomerCreated | CustomerUpdated | CustomerInactivated | CustomerReactivated


class CustomerEvents:
    """Set-based: a run of customer snapshots (most of this topic) is stored with a few
    statements, newest version per customer; a MappingSaved ends the run and is applied alone,
    so the order of snapshots and mapping changes of one customer is kept."""

    async def apply_batch(
        self, conn: asyncpg.Connection, consumer: str, events: list[InboundEvent]
    ) -> list[Failure]:
        fresh = await new_event_ids(conn, consumer, [e.envelope.id for e in events])
        run: list[tuple[str, dict[str, object]]] = []
        for event in events:
            if event.envelope.id not in fresh:
                continue  # redelivered: applied before
            fresh.discard(event.envelope.id)
            if isinstance(event.data, SnapshotEvent):
                run.append((event.envelope.tenant_id, event.data.customer.model_dump(mode="json")))
                continue
            await self._flush(conn, run)
            run = []
            await self.apply(conn, event)
        await self._flush(conn, run)
        return []

    async def _flush(
        self, conn: asyncpg.Connection, run: list[tuple[str, dict[str, object]]]
    ) -> None:
        if run:
            changed = await save_snapshots(conn, run)
            await customers_changed(conn, changed)

    async def apply(self, conn: asyncpg.Connection, event: InboundEvent) -> None:
        tenant_id = event.envelope.tenant_id
        data = event.data
        if isinstance(
            data, CustomerCreated | CustomerUpdated | CustomerInactivated | CustomerReactivated
        ):
            snapshot = data.customer.model_dump(mode="json")
            if await save_snapshot(conn, tenant_id, snapshot):
                await customer_changed(conn, tenant_id, snapshot)
        elif isinstance(data, MappingSaved):
            await self._mapping_saved(conn, tenant_id, data, str(event.envelope.id))

    async def _mapping_saved(
        self, conn: asyncpg.Connection, tenant_id: str, data: MappingSaved, event_id: str
    ) -> None:
        if data.customer_id is None:
            return  # a "don't import" row that was never linked: nothing of ours
        # Changes about one QuickBooks customer come keyed by different customers: a link older
        # than a change applied already was undone by it (the QuickBooks customer went to
        # another customer, or to "don't import"), so it only unlinks its own customer.
        late = (
            data.qb_customer_id is not None
            and data.mapping_sequence is not None
            and await newer_mapping(
                conn, tenant_id, data.realm_id, data.qb_customer_id, data.mapping_sequence
            )
        )
        linked_to = data.qb_customer_id if data.choice in ("create_here", "link_existing") else None
        if data.choice == "push_to_quickbooks":
            await request_push(
                conn, tenant_id, data.realm_id, data.customer_id, event_id, cause=event_id
            )
        elif linked_to and not late:
            await record_link(conn, tenant_id, data.realm_id, data.customer_id, linked_to)
        elif linked_to or data.choice == "dont_import":
            await unlink(conn, tenant_id, data.realm_id, data.customer_id)
