"""The `qb.webhooks` consumer: turns a notification into due pull work, in the inbox transaction.

It never calls QuickBooks itself (that would hold the consumer's transaction open across a slow,
throttled HTTP call). A customer change makes the realm's CDC due now; the puller then reads the
current state of every changed customer and `publish_mirror` skips versions already seen. So a
duplicated notification costs one CDC call at most, and an out-of-order one cannot roll a customer
back: only QuickBooks' current SyncToken is ever mirrored. A merge is also recorded (merged-away id
and survivor), which only the notification names.
"""

from __future__ import annotations

import asyncpg

from platform_events.contracts.quickbooks import QuickBooksWebhookReceived
from platform_kit.inbox import InboundEvent
from qb_sync.store.connections import status_of
from qb_sync.store.pull_state import record_merge, request_cdc

PULLED_ENTITIES = {"Customer"}


class WebhookEvents:
    async def apply(self, conn: asyncpg.Connection, event: InboundEvent) -> None:
        data = event.data
        if not isinstance(data, QuickBooksWebhookReceived) or data.entity not in PULLED_ENTITIES:
            return
        tenant_id = event.envelope.tenant_id
        if await status_of(conn, tenant_id, data.realm_id) != "connected":
            return  # disconnected since: the next connect imports everything anyway
        if data.operation == "Merge" and data.deleted_id and data.deleted_id != data.entity_id:
            await record_merge(conn, tenant_id, data.realm_id, data.deleted_id, data.entity_id)
        await request_cdc(conn, tenant_id, data.realm_id)
