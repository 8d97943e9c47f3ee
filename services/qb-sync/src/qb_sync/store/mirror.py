"""`publish_mirror`: one QuickBooks customer version onto the compacted `qb.customers` topic.

Push (after every create/update) and pull (import, CDC, webhooks) both call it, so the mirror is
the one place that decides "is this version new?". `mirror_versions` keeps the last SyncToken
published per (tenant, realm, qb id); a version not newer than that is skipped, so echoes of our
own writes seen again by CDC, duplicate webhooks and re-imports publish nothing. The event goes
to the outbox in the caller's transaction, keyed `<realm>:<qb id>`, sequence = SyncToken. It
also keeps what QuickBooks held at that version (the fields push owns): a link made in the
mapping form starts from it.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from platform_events.contracts.quickbooks import QuickBooksCustomerMirrored
from platform_events.envelope import new_envelope
from platform_kit.outbox import add_to_outbox, outgoing
from qb_sync.domain.fields import current

SOURCE = "qb-sync"
Json = dict[str, Any]


def _value(obj: Any, key: str) -> str | None:
    if isinstance(obj, dict):
        found = obj.get(key)
        return str(found) if found not in (None, "") else None
    return None


def _address(obj: Any) -> dict[str, Any] | None:
    if not isinstance(obj, dict):
        return None
    kept = {k: v for k, v in obj.items() if k != "Id" and v not in (None, "")}
    return kept or None


def mirrored_event(
    realm_id: str, customer: dict[str, Any], linked_customer_id: str | None = None
) -> QuickBooksCustomerMirrored:
    """The mirror event for a QuickBooks Customer JSON object (as QuickBooks returned it)."""
    return QuickBooksCustomerMirrored(
        realm_id=realm_id,
        qb_customer_id=str(customer["Id"]),
        sync_token=int(customer.get("SyncToken") or 0),
        display_name=str(customer.get("DisplayName") or ""),
        company_name=customer.get("CompanyName") or None,
        given_name=customer.get("GivenName") or None,
        family_name=customer.get("FamilyName") or None,
        active=bool(customer.get("Active", True)),
        parent_qb_customer_id=_value(customer.get("ParentRef"), "value"),
        email=_value(customer.get("PrimaryEmailAddr"), "Address"),
        phone=_value(customer.get("PrimaryPhone"), "FreeFormNumber"),
        mobile=_value(customer.get("Mobile"), "FreeFormNumber"),
        currency=_value(customer.get("CurrencyRef"), "value"),
        billing_address=_address(customer.get("BillAddr")),
        shipping_address=_address(customer.get("ShipAddr")),
        merged_into_qb_customer_id=customer.get("merged_into_qb_customer_id"),
        linked_customer_id=linked_customer_id,
    )


async def publish_mirror(
    conn: asyncpg.Connection,
    tenant_id: str,
    realm_id: str,
    qbo_customer_json: dict[str, Any],
    *,
    linked_customer_id: str | None = None,
    announce: bool = True,
) -> bool:
    """Write QuickBooksCustomerMirrored to the outbox if this SyncToken is newer than the last
    one published for the customer. Returns whether it was published. Must run in a transaction.
    `linked_customer_id`: the push that created or matched it links it to this customer.
    `announce=False` keeps the version only (a Desktop customer is announced in its own shape,
    store/qbd/mirror.py)."""
    data = mirrored_event(realm_id, qbo_customer_json, linked_customer_id)
    newer = await conn.fetchval(
        """INSERT INTO mirror_versions (tenant_id, realm_id, qb_customer_id, sync_token, content)
           VALUES ($1, $2, $3, $4, $5::jsonb)
           ON CONFLICT (tenant_id, realm_id, qb_customer_id) DO UPDATE
              SET sync_token = EXCLUDED.sync_token, content = EXCLUDED.content,
                  mirrored_at = now()
            WHERE mirror_versions.sync_token < EXCLUDED.sync_token
           RETURNING true""",
        tenant_id,
        realm_id,
        data.qb_customer_id,
        data.sync_token,
        json.dumps(current(qbo_customer_json)),
    )
    if not newer or not announce:
        return False
    key = f"{realm_id}:{data.qb_customer_id}"
    envelope = new_envelope(
        data, source=SOURCE, subject=key, tenant_id=tenant_id, sequence=data.sync_token
    )
    await add_to_outbox(conn, [outgoing(envelope, key=key)])
    return True


async def mirrored_content(
    conn: Any, tenant_id: str, realm_id: str, qb_customer_id: str
) -> tuple[int, Json] | None:
    """The last mirrored version of a QuickBooks customer: (SyncToken, fields.current view)."""
    row = await conn.fetchrow(
        """SELECT sync_token, content FROM mirror_versions
            WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = $3
              AND content IS NOT NULL""",
        tenant_id,
        realm_id,
        qb_customer_id,
    )
    if row is None:
        return None
    content = row["content"]
    return int(row["sync_token"]), json.loads(content) if isinstance(content, str) else content
