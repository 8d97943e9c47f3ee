"""Desktop customers onto `qb.customers`, as `publish_mirror` does for QuickBooks Online ones:
the customer service's directory cannot tell them apart but by `provider`. The realm is the
connection id, the key `<realm>:<ListID>`, the sequence the customer's own mirror version
(migrations/010_qbd_directory.sql), bumped only when the shown fields changed. Runs in the
caller's transaction, with the import or push that read the customer."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from platform_events.contracts.quickbooks import QuickBooksCustomerMirrored
from platform_events.envelope import new_envelope
from platform_kit.outbox import add_to_outbox, outgoing
from qb_sync.domain.qbd.directory import digest
from qb_sync.domain.qbd.records import desktop_realm

SOURCE = "qb-sync"


async def publish_desktop_mirror(
    conn: asyncpg.Connection, connection_id: uuid.UUID, fields: dict[str, Any]
) -> bool:
    """Outbox a QuickBooksCustomerMirrored when `fields` (domain/qbd/directory.mirror_fields)
    differ from the last published; returns whether it did."""
    row = await conn.fetchrow(
        """UPDATE qbd_customers q SET mirror_sequence = q.mirror_sequence + 1, mirror_digest = $3
             FROM qbd_connections c
            WHERE c.connection_id = q.connection_id AND q.connection_id = $1
              AND q.list_id = $2 AND q.mirror_digest IS DISTINCT FROM $3
        RETURNING q.mirror_sequence, c.tenant_id""",
        connection_id,
        fields["qb_customer_id"],
        digest(fields),
    )
    if row is None:
        return False
    realm = desktop_realm(connection_id)
    data = QuickBooksCustomerMirrored(realm_id=realm, sync_token=row["mirror_sequence"], **fields)
    key = f"{realm}:{data.qb_customer_id}"
    envelope = new_envelope(
        data, source=SOURCE, subject=key, tenant_id=row["tenant_id"], sequence=data.sync_token
    )
    await add_to_outbox(conn, [outgoing(envelope, key=key)])
    return True
