"""The QuickBooks directory (from qb.customers) and the mapping rows. Callers own the transaction."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace
from typing import Any

import asyncpg

from customer_service.domain.importing import QuickBooksCustomer
from customer_service.domain.mapping import CurrentMapping
from customer_service.store.profile import customer_exists
from platform_events.contracts.quickbooks import QuickBooksCustomerMirrored

_DIRECTORY_FIELDS = (
    "display_name", "company_name", "given_name", "family_name", "active",
    "parent_qb_customer_id", "email", "phone", "mobile", "currency", "provider", "full_name",
    "deleted",
)  # fmt: skip


async def upsert_directory_row(
    conn: asyncpg.Connection, tenant_id: str, qb: QuickBooksCustomerMirrored
) -> bool:
    """True when stored; False when an equal or newer SyncToken is already there."""
    names = [*_DIRECTORY_FIELDS, "billing_address", "shipping_address", "merged_into", "contacts"]
    values = [getattr(qb, n) for n in _DIRECTORY_FIELDS] + [
        json.dumps(qb.billing_address) if qb.billing_address else None,
        json.dumps(qb.shipping_address) if qb.shipping_address else None,
        qb.merged_into_qb_customer_id,
        json.dumps([c.model_dump() for c in qb.contacts]) if qb.contacts else None,
    ]
    placeholders = ", ".join(f"${i}" for i in range(5, 5 + len(names)))
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names)
    stored = await conn.fetchval(
        f"""INSERT INTO qb_directory (tenant_id, realm_id, qb_customer_id, sync_token,
                                      {", ".join(names)})
            VALUES ($1, $2, $3, $4, {placeholders})
            ON CONFLICT (tenant_id, realm_id, qb_customer_id) DO UPDATE
               SET sync_token = EXCLUDED.sync_token, {updates}, updated_at = now()
             WHERE qb_directory.sync_token < EXCLUDED.sync_token
            RETURNING true""",
        tenant_id,
        qb.realm_id,
        qb.qb_customer_id,
        qb.sync_token,
        *values,
    )
    return bool(stored)


def quickbooks_customer_of(row: asyncpg.Record) -> QuickBooksCustomer:
    return QuickBooksCustomer(
        realm_id=row["realm_id"],
        qb_customer_id=row["qb_customer_id"],
        display_name=row["display_name"],
        company_name=row["company_name"],
        given_name=row["given_name"],
        family_name=row["family_name"],
        email=row["email"],
        phone=row["phone"],
        mobile=row["mobile"],
        currency=row["currency"],
        billing_address=_json(row["billing_address"]),
        shipping_address=_json(row["shipping_address"]),
        parent_qb_customer_id=row["parent_qb_customer_id"],
        active=row["active"],
        provider=row["provider"],
        full_name=row["full_name"],
        contacts=tuple(_json(row["contacts"]) or ()),
    )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def directory_with_mappings(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, realm_id: str
) -> list[asyncpg.Record]:
    """Every QuickBooks customer of the company (merged and deleted ones excluded) with its
    mapping; a Desktop job sorts under its parent (by FullName)."""
    return await conn.fetch(
        """SELECT d.*, m.choice, m.customer_id, m.status, c.company_name AS customer_name
             FROM qb_directory d
             LEFT JOIN qb_mappings m ON m.tenant_id = d.tenant_id AND m.realm_id = d.realm_id
                                    AND m.qb_customer_id = d.qb_customer_id
             LEFT JOIN customers c ON c.customer_id = m.customer_id
            WHERE d.tenant_id = $1 AND d.realm_id = $2 AND d.merged_into IS NULL
              AND NOT d.deleted
            ORDER BY coalesce(d.full_name, d.display_name), d.qb_customer_id""",
        tenant_id,
        realm_id,
    )


async def pushes_in_flight(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, realm_id: str
) -> dict[str, tuple[str, str]]:
    """Customers whose push to this company has not linked a QuickBooks customer yet, by the name
    their create carries (casefolded, as QuickBooks compares names): name -> (customer id, name).
    While the create's answer is outstanding (or after it failed on a timeout: the push resends
    the same create, which links it), QuickBooks may already show its customer (webhook, CDC)
    with no link: the mapping form must not offer it as free."""
    rows = await conn.fetch(
        """SELECT m.customer_id, COALESCE(NULLIF(c.display_name, ''), c.company_name) AS name
             FROM qb_mappings m
             JOIN customers c ON c.tenant_id = m.tenant_id AND c.customer_id = m.customer_id
            WHERE m.tenant_id = $1 AND m.realm_id = $2 AND m.choice = 'push_to_quickbooks'
              AND m.qb_customer_id IS NULL""",
        tenant_id,
        realm_id,
    )
    return {in_flight_key(r["name"]): (str(r["customer_id"]), r["name"]) for r in rows}


def in_flight_key(name: str | None) -> str:
    return " ".join((name or "").split()).casefold()


async def realms_of(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT realm_id, min(provider) AS provider, count(*) AS customers FROM qb_directory
            WHERE tenant_id = $1 AND merged_into IS NULL AND NOT deleted
            GROUP BY realm_id ORDER BY realm_id""",
        tenant_id,
    )


async def current_mappings(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str
) -> dict[str, CurrentMapping]:
    rows = await conn.fetch(
        """SELECT qb_customer_id, choice, customer_id FROM qb_mappings
            WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id IS NOT NULL""",
        tenant_id,
        realm_id,
    )
    return {
        r["qb_customer_id"]: CurrentMapping(
            r["qb_customer_id"], r["choice"], str(r["customer_id"]) if r["customer_id"] else None
        )
        for r in rows
    }


async def mapped_customers(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str
) -> dict[str, str | None]:
    """customer id -> the QuickBooks customer it is mapped to in this company (None: push)."""
    rows = await conn.fetch(
        """SELECT customer_id, qb_customer_id FROM qb_mappings
            WHERE tenant_id = $1 AND realm_id = $2 AND customer_id IS NOT NULL""",
        tenant_id,
        realm_id,
    )
    return {str(r["customer_id"]): r["qb_customer_id"] for r in rows}


async def lock_mappings(conn: asyncpg.Connection, tenant_id: str, realm_id: str) -> None:
    """One mapping change at a time per tenant and QuickBooks company."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1))", f"qbmap:{tenant_id}:{realm_id}"
    )


async def write_mappings(
    conn: asyncpg.Connection,
    tenant_id: str,
    realm_id: str,
    rows: list[tuple[str, str, str | None]],
) -> None:
    """Upsert (qb_customer_id, choice, customer_id) rows. Targets are cleared first, so links may
    swap between rows without tripping the one-link-per-customer index halfway."""
    qb_ids = [r[0] for r in rows]
    await conn.execute(
        """UPDATE qb_mappings SET customer_id = NULL
            WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = ANY($3)""",
        tenant_id,
        realm_id,
        qb_ids,
    )
    await conn.execute(
        """INSERT INTO qb_mappings (tenant_id, realm_id, qb_customer_id, choice, customer_id)
           SELECT $1, $2, q, ch, c FROM unnest($3::text[], $4::text[], $5::uuid[]) AS t(q, ch, c)
           ON CONFLICT (tenant_id, realm_id, qb_customer_id) WHERE qb_customer_id IS NOT NULL
           DO UPDATE SET choice = EXCLUDED.choice, customer_id = EXCLUDED.customer_id,
                         status = 'saved', last_error = NULL, updated_at = now()""",
        tenant_id,
        realm_id,
        qb_ids,
        [r[1] for r in rows],
        [uuid.UUID(r[2]) if r[2] else None for r in rows],
    )


async def next_unowned_sequences(conn: asyncpg.Connection, count: int) -> list[int]:
    """Numbers increasing across every subject: the sequences of MappingSaved events about no
    customer, and every MappingSaved's `mapping_sequence`."""
    if count == 0:
        return []
    rows = await conn.fetch(
        "SELECT nextval('mapping_event_seq') AS n FROM generate_series(1, $1) ORDER BY n", count
    )
    return [r["n"] for r in rows]


async def insert_push_request(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, customer_id: str
) -> None:
    await conn.execute(
        """INSERT INTO qb_mappings (tenant_id, realm_id, customer_id, choice, status)
           VALUES ($1, $2, $3, 'push_to_quickbooks', 'pending')""",
        tenant_id,
        realm_id,
        uuid.UUID(customer_id),
    )


async def mappings_of_customer(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: str, customer_id: str
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT m.realm_id, m.qb_customer_id, m.choice, m.status, m.last_error, m.updated_at,
                  d.display_name AS qb_display_name
             FROM qb_mappings m
             LEFT JOIN qb_directory d ON d.tenant_id = m.tenant_id AND d.realm_id = m.realm_id
                                     AND d.qb_customer_id = m.qb_customer_id
            WHERE m.tenant_id = $1 AND m.customer_id = $2 ORDER BY m.realm_id""",
        tenant_id,
        uuid.UUID(customer_id),
    )


async def directory_names(conn: asyncpg.Connection, tenant_id: str, realm_id: str) -> list[str]:
    """The names a link by name can match: Desktop's FullName, else the display name."""
    rows = await conn.fetch(
        """SELECT coalesce(full_name, display_name) AS name FROM qb_directory
            WHERE tenant_id = $1 AND realm_id = $2 AND merged_into IS NULL AND NOT deleted""",
        tenant_id,
        realm_id,
    )
    return [r["name"] for r in rows]


async def find_by_display_name(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, display_name: str
) -> list[asyncpg.Record]:
    """Exact, case- and space-sensitive: the name must be what QuickBooks holds, byte for byte
    (a Desktop customer's FullName, `Parent:Job` for a job; an Online customer's display name).
    Every match: QuickBooks keeps names unique, but the directory may briefly hold two rows of a
    name (renames mirrored out of order, each customer on its own key)."""
    return await conn.fetch(
        """SELECT * FROM qb_directory WHERE tenant_id = $1 AND realm_id = $2
              AND coalesce(full_name, display_name) = $3 AND merged_into IS NULL
              AND NOT deleted ORDER BY qb_customer_id""",
        tenant_id,
        realm_id,
        display_name,
    )


async def record_link(conn: asyncpg.Connection, tenant_id: str, data: Any) -> None:
    """qb-sync linked a customer (created, matched by name, ...). The push request row, if any,
    becomes the link; a QuickBooks customer already linked elsewhere is a conflict, not a steal."""
    customer_id = uuid.UUID(data.customer_id)
    taken_by = await conn.fetchval(
        """SELECT customer_id FROM qb_mappings WHERE tenant_id = $1 AND realm_id = $2
              AND qb_customer_id = $3 AND customer_id IS NOT NULL""",
        tenant_id,
        data.realm_id,
        data.qb_customer_id,
    )
    if taken_by is not None and taken_by != customer_id:
        await conn.execute(
            """UPDATE qb_mappings SET status = 'conflict', updated_at = now(),
                      last_error = $4
                WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
            tenant_id,
            data.realm_id,
            customer_id,
            f"QuickBooks customer {data.qb_customer_id} is linked to another customer",
        )
        return
    if taken_by == customer_id:
        await conn.execute(
            """UPDATE qb_mappings SET status = 'linked', last_error = NULL, updated_at = now()
                WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = $3""",
            tenant_id,
            data.realm_id,
            data.qb_customer_id,
        )
        return
    # Drop an unlinked directory row for the QuickBooks customer ("don't import"), then link.
    await conn.execute(
        """DELETE FROM qb_mappings WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = $3
              AND customer_id IS NULL""",
        tenant_id,
        data.realm_id,
        data.qb_customer_id,
    )
    updated = await conn.fetchval(
        """UPDATE qb_mappings SET qb_customer_id = $4, status = 'linked', last_error = NULL,
                  updated_at = now()
            WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3 RETURNING true""",
        tenant_id,
        data.realm_id,
        customer_id,
        data.qb_customer_id,
    )
    if not updated:
        await conn.execute(
            """INSERT INTO qb_mappings (tenant_id, realm_id, qb_customer_id, customer_id, choice,
                                        status)
               VALUES ($1, $2, $3, $4, 'link_existing', 'linked')""",
            tenant_id,
            data.realm_id,
            data.qb_customer_id,
            customer_id,
        )


async def adopt_link_from_mirror(conn: asyncpg.Connection, tenant_id: str, data: Any) -> None:
    """A mirror saying qb-sync linked its QuickBooks customer to one of ours (a push created or
    matched it) counts as that link when the QuickBooks customer has no mapping yet, so the form
    never offers it to "create here" in the moment before QuickBooksCustomerLinked arrives. A
    mapping made meanwhile (by a person, or the link itself) is left to that event."""

    async def mapped() -> bool:
        return bool(
            await conn.fetchval(
                """SELECT true FROM qb_mappings
                    WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = $3""",
                tenant_id,
                data.realm_id,
                data.qb_customer_id,
            )
        )

    if await mapped():  # usually: the link came first; no lock needed to know that
        return
    # A form save holds this lock from before it reads the form to its commit: it either sees
    # the link, or has written its choice, which the link then defers to.
    await lock_mappings(conn, tenant_id, data.realm_id)
    if await mapped() or not await customer_exists(conn, tenant_id, data.linked_customer_id):
        return
    link = SimpleNamespace(
        realm_id=data.realm_id,
        customer_id=data.linked_customer_id,
        qb_customer_id=data.qb_customer_id,
    )
    await record_link(conn, tenant_id, link)


async def record_sync_failure(conn: asyncpg.Connection, tenant_id: str, data: Any) -> None:
    try:
        customer_id = uuid.UUID(data.customer_id)
    except ValueError:
        return
    await conn.execute(
        """UPDATE qb_mappings SET status = $4, last_error = $5, updated_at = now()
            WHERE tenant_id = $1 AND realm_id = $2 AND customer_id = $3""",
        tenant_id,
        data.realm_id,
        customer_id,
        data.status,
        f"{data.error_code or ''} {data.error_message}".strip(),
    )


async def move_link_after_merge(conn: asyncpg.Connection, tenant_id: str, data: Any) -> None:
    """QuickBooks merged this customer into another: its link follows, unless the survivor is
    already linked (then the merged one's mapping is left for a person to resolve). Only a link
    moves: a choice that names no customer ("don't import") was about the merged-away customer,
    and the survivor's own such choice gives way to the link, as qb-sync's remap does."""
    if not await conn.fetchval(
        """SELECT true FROM qb_mappings WHERE tenant_id = $1 AND realm_id = $2
              AND qb_customer_id = $3 AND customer_id IS NOT NULL""",
        tenant_id,
        data.realm_id,
        data.qb_customer_id,
    ):
        return
    survivor_linked = await conn.fetchval(
        """SELECT true FROM qb_mappings WHERE tenant_id = $1 AND realm_id = $2
              AND qb_customer_id = $3 AND customer_id IS NOT NULL""",
        tenant_id,
        data.realm_id,
        data.merged_into_qb_customer_id,
    )
    if survivor_linked:
        return
    await conn.execute(
        """DELETE FROM qb_mappings WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = $3
              AND customer_id IS NULL""",
        tenant_id,
        data.realm_id,
        data.merged_into_qb_customer_id,
    )
    await conn.execute(
        """UPDATE qb_mappings SET qb_customer_id = $4, updated_at = now()
            WHERE tenant_id = $1 AND realm_id = $2 AND qb_customer_id = $3""",
        tenant_id,
        data.realm_id,
        data.qb_customer_id,
        data.merged_into_qb_customer_id,
    )
