"""customer.events -> push intent, inside the consumer's transaction (group `qb-sync`).

Only intent is recorded here (no QuickBooks call in a consumer transaction):
- Created/Updated/Inactivated/Reactivated: keep the newest snapshot; linked rows whose
  QuickBooks fields changed become pending. An unlinked customer is never pushed on its own: a
  "create here" customer already exists in QuickBooks, and pushing is the user's choice.
- MappingSaved push_to_quickbooks: a pending row whose create requestid is derived from this
  event (uuid5 of realm, customer and the event id), stored before any call.
- MappingSaved create_here / link_existing: record the link as synced (no call).
- MappingSaved dont_import with a customer: unlink.
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
from platform_kit.inbox import InboundEvent
from qb_sync.push.state import (
    customer_changed,
    record_link,
    request_push,
    save_snapshot,
    unlink,
)


class CustomerEvents:
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
        if data.choice == "push_to_quickbooks":
            await request_push(conn, tenant_id, data.realm_id, data.customer_id, event_id)
        elif data.choice in ("create_here", "link_existing") and data.qb_customer_id:
            await record_link(conn, tenant_id, data.realm_id, data.customer_id, data.qb_customer_id)
        elif data.choice == "dont_import":
            await unlink(conn, tenant_id, data.realm_id, data.customer_id)
