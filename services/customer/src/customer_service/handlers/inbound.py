"""What the customer service does with other services' facts, inside the consumer's transaction
(the inbox row is already recorded): the QuickBooks directory, link outcomes, billing flags."""

from __future__ import annotations

import logging
import uuid

import asyncpg

from customer_service.store.flags import record_credit_limit, record_overdue
from customer_service.store.quickbooks import (
    adopt_link_from_mirror,
    lock_mappings,
    move_link_after_merge,
    record_link,
    record_sync_failure,
    upsert_directory_row,
)
from platform_events.contracts.billing import CreditLimitExceeded, OverdueChanged
from platform_events.contracts.quickbooks import (
    QuickBooksCustomerLinked,
    QuickBooksCustomerMirrored,
    QuickBooksSyncFailed,
)
from platform_kit.inbox import InboundEvent, PermanentError

log = logging.getLogger(__name__)


class InboundEvents:
    async def apply(self, conn: asyncpg.Connection, event: InboundEvent) -> None:
        tenant_id = event.envelope.tenant_id
        data = event.data
        if isinstance(data, QuickBooksCustomerMirrored):
            await when_quickbooks_customer_mirrored(conn, tenant_id, data)
        elif isinstance(data, QuickBooksCustomerLinked):
            await when_quickbooks_customer_linked(conn, tenant_id, data)
        elif isinstance(data, QuickBooksSyncFailed):
            await record_sync_failure(conn, tenant_id, data)
        elif isinstance(data, OverdueChanged):
            await record_overdue(conn, tenant_id, data, event.envelope.sequence)
        elif isinstance(data, CreditLimitExceeded):
            await record_credit_limit(conn, tenant_id, data, event.envelope.sequence)
        # Other billing facts (balances, rejections) are not this service's concern.


async def when_quickbooks_customer_mirrored(
    conn: asyncpg.Connection, tenant_id: str, data: QuickBooksCustomerMirrored
) -> None:
    stored = await upsert_directory_row(conn, tenant_id, data)
    if stored and data.merged_into_qb_customer_id:
        await lock_mappings(conn, tenant_id, data.realm_id)  # see when_quickbooks_customer_linked
        await move_link_after_merge(conn, tenant_id, data)
    if data.linked_customer_id:
        await adopt_link_from_mirror(conn, tenant_id, data)


async def when_quickbooks_customer_linked(
    conn: asyncpg.Connection, tenant_id: str, data: QuickBooksCustomerLinked
) -> None:
    try:
        customer_id = uuid.UUID(data.customer_id)
    except ValueError:
        raise PermanentError(f"customer id {data.customer_id!r} is not a uuid") from None
    exists = await conn.fetchval(
        "SELECT true FROM customers WHERE customer_id = $1 AND tenant_id = $2",
        customer_id,
        tenant_id,
    )
    if not exists:
        raise PermanentError(f"customer {data.customer_id} is unknown in tenant {tenant_id}")
    # A form save holds this lock from its read of the mappings to its commit: a link landing
    # in between would be overwritten by what the save read before it.
    await lock_mappings(conn, tenant_id, data.realm_id)
    await record_link(conn, tenant_id, data)
