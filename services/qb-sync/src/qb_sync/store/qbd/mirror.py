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
from qb_sync.domain.qbd.push_xml import external_guid
from qb_sync.domain.qbd.records import desktop_realm
from qb_sync.store.push.desktop_links import link_candidates

SOURCE = "qb-sync"


async def _linked_customer(
    conn: asyncpg.Connection, tenant_id: str, realm: str, list_id: str, guid: str | None
) -> str | None:
    """The platform customer qb-sync links this QuickBooks customer to: by its ListID, or, for
    one our push just added (its ExternalGUID is the push's), the pending row that added it.
    The mirror says so, as publish_mirror does for QuickBooks Online, so the form never offers
    the new QuickBooks customer to "create here" before QuickBooksCustomerLinked arrives."""
    linked, unlinked = await link_candidates(conn, tenant_id, realm, list_id, guid is not None)
    if linked is not None:
        return linked
    return next((c for c in unlinked if external_guid(tenant_id, c) == guid), None)


async def publish_desktop_mirror(
    conn: asyncpg.Connection,
    connection_id: uuid.UUID,
    fields: dict[str, Any],
    guid: str | None = None,
    *,
    linked_customer_id: str | None = None,
) -> bool:
    """Outbox a QuickBooksCustomerMirrored when `fields` (domain/qbd/directory.mirror_fields)
    or the customer's link differ from the last published; returns whether it did. `guid`: the
    customer's ExternalGUID, if it has one; `linked_customer_id`: the link a push outcome
    records in this transaction (else it is looked up)."""
    tenant_id = await conn.fetchval(
        "SELECT tenant_id FROM qbd_connections WHERE connection_id = $1", connection_id
    )
    if tenant_id is None:
        return False
    realm = desktop_realm(connection_id)
    linked = linked_customer_id or await _linked_customer(
        conn, tenant_id, realm, fields["qb_customer_id"], guid
    )
    sequence = await conn.fetchval(
        """UPDATE qbd_customers SET mirror_sequence = mirror_sequence + 1, mirror_digest = $3
            WHERE connection_id = $1 AND list_id = $2 AND mirror_digest IS DISTINCT FROM $3
        RETURNING mirror_sequence""",
        connection_id,
        fields["qb_customer_id"],
        digest({**fields, "linked_customer_id": linked}),
    )
    if sequence is None:
        return False
    data = QuickBooksCustomerMirrored(
        realm_id=realm, sync_token=sequence, linked_customer_id=linked, **fields
    )
    key = f"{realm}:{data.qb_customer_id}"
    envelope = new_envelope(
        data, source=SOURCE, subject=key, tenant_id=tenant_id, sequence=data.sync_token
    )
    await add_to_outbox(conn, [outgoing(envelope, key=key)])
    return True
