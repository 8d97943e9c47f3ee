"""Saving the QuickBooks customer mapping form: every row in one transaction.

"Create here" rows become customers by the import rules; each changed row emits MappingSaved,
and each created customer CustomerCreated, all through the outbox in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from customer_service.domain.customer import Customer
from customer_service.domain.errors import Problems, PushInFlight
from customer_service.domain.hierarchy import TOO_DEEP, nests_too_deep
from customer_service.domain.importing import (
    QuickBooksCustomer,
    contacts_from_quickbooks,
    customer_values_from_quickbooks,
)
from customer_service.domain.mapping import (
    CurrentMapping,
    RequestedRow,
    RowChange,
    check_default_choice,
    rows_to_apply,
)
from customer_service.handlers.customers import (
    created_event,
    insert_customers_refusing_duplicates,
    prepare_new_customers,
)
from customer_service.handlers.envelopes import customer_envelope
from customer_service.store import outbox
from customer_service.store.customers import chain_lengths
from customer_service.store.profile import insert_contacts
from customer_service.store.quickbooks import (
    current_mappings,
    directory_with_mappings,
    in_flight_key,
    lock_mappings,
    mapped_customers,
    next_unowned_sequences,
    pushes_in_flight,
    quickbooks_customer_of,
    write_mappings,
)
from customer_service.store.reference import seeded_transaction
from platform_events import Envelope
from platform_events.contracts.customer import MappingSaved


@dataclass(frozen=True)
class SaveResult:
    changed: int
    created_customer_ids: dict[str, str]  # qb customer id -> new customer id


def mapping_saved_event(
    tenant_id: str,
    realm_id: str,
    qb: QuickBooksCustomer | None,
    choice: str,
    previous_choice: str | None,
    customer_id: str | None,
    version: int,
    customer_active: bool | None = None,
    mapping_sequence: int | None = None,
) -> Envelope:
    # Keyed by the customer when there is one, so it stays in order with that customer's events.
    qb_id = qb.qb_customer_id if qb else None
    subject = customer_id or f"qb:{realm_id}:{qb_id}"
    return customer_envelope(
        MappingSaved(
            realm_id=realm_id,
            qb_customer_id=qb_id,
            choice=choice,  # type: ignore[arg-type]
            previous_choice=previous_choice,  # type: ignore[arg-type]
            customer_id=customer_id,
            qb_display_name=qb.display_name if qb else None,
            customer_active=customer_active if customer_id else None,
            mapping_sequence=mapping_sequence,
        ),
        tenant_id=tenant_id,
        subject=subject,
        version=version,
    )


async def save_mappings(
    pool: asyncpg.Pool,
    tenant_id: str,
    realm_id: str,
    requested: list[RequestedRow],
    default_choice: str | None,
) -> SaveResult:
    check_default_choice(default_choice)
    async with seeded_transaction(pool, tenant_id) as conn:
        return await _save(conn, tenant_id, realm_id, requested, default_choice)


async def _save(
    conn: asyncpg.Connection,
    tenant_id: str,
    realm_id: str,
    requested: list[RequestedRow],
    default_choice: str | None,
) -> SaveResult:
    await lock_mappings(conn, tenant_id, realm_id)
    directory = {
        r["qb_customer_id"]: quickbooks_customer_of(r)
        for r in await directory_with_mappings(conn, tenant_id, realm_id)
    }
    _check_rows_name_known_customers(requested, directory)
    current = await current_mappings(conn, tenant_id, realm_id)
    changes = rows_to_apply(list(directory), current, requested, default_choice)
    changes = await _leave_pushes_in_flight(
        conn, tenant_id, realm_id, changes, directory, requested
    )
    touched = await _check_link_targets(conn, tenant_id, realm_id, changes)
    created = await _create_customers(conn, tenant_id, changes, directory, current)
    targets = {
        c.qb_customer_id: created[c.qb_customer_id].customer_id
        if c.qb_customer_id in created
        else c.customer_id
        for c in changes
    }
    await write_mappings(
        conn,
        tenant_id,
        realm_id,
        [(c.qb_customer_id, c.choice, targets[c.qb_customer_id]) for c in changes],
    )
    events = [created_event(customer) for customer in created.values()]
    about = {
        c.qb_customer_id: targets[c.qb_customer_id]
        or (c.previous.customer_id if c.previous else None)
        for c in changes
    }
    # Rows about no customer are keyed qb:<realm>:<id>; a global sequence keeps each increasing.
    unowned = iter(await next_unowned_sequences(conn, sum(1 for c in about.values() if not c)))
    # Under the company's lock: a later change of the company always gets a higher number.
    mapping_sequences = await next_unowned_sequences(conn, len(changes))
    for change, mapping_sequence in zip(changes, mapping_sequences, strict=True):
        customer_id = about[change.qb_customer_id]
        active: bool | None = None
        if change.qb_customer_id in created:
            version = created[change.qb_customer_id].version
            active = created[change.qb_customer_id].active
        elif customer_id:
            version, active = touched[customer_id]
        else:
            version = next(unowned)
        events.append(
            mapping_saved_event(
                tenant_id,
                realm_id,
                directory[change.qb_customer_id],
                change.choice,
                change.previous.choice if change.previous else None,
                customer_id,
                version,
                active,
                mapping_sequence,
            )
        )
    await outbox.record_events(conn, events)
    return SaveResult(len(changes), {qb_id: c.customer_id for qb_id, c in created.items()})


async def _leave_pushes_in_flight(
    conn: asyncpg.Connection,
    tenant_id: str,
    realm_id: str,
    changes: list[RowChange],
    directory: dict[str, QuickBooksCustomer],
    requested: list[RequestedRow],
) -> list[RowChange]:
    """An unmapped QuickBooks customer named like a customer whose push is still creating it is
    that push's own customer (its answer is outstanding): a row asking to create it here or to
    link it to another customer is refused (409 push_in_flight), and a default choice passes it
    by. Linking it to the pushing customer itself is what the push does anyway: allowed."""
    in_flight = await pushes_in_flight(conn, tenant_id, realm_id)
    if not in_flight:
        return changes
    asked = {r.qb_customer_id for r in requested}
    kept: list[RowChange] = []
    refused: dict[str, str] = {}
    for change in changes:
        pushing = in_flight.get(in_flight_key(directory[change.qb_customer_id].display_name))
        if (
            change.previous is not None
            or pushing is None
            or change.choice == "dont_import"
            or (change.choice == "link_existing" and change.customer_id == pushing[0])
        ):
            kept.append(change)
        elif change.qb_customer_id in asked:
            refused[change.qb_customer_id] = pushing[0]
    if refused:
        raise PushInFlight(
            "these QuickBooks customers are being created by a push of a platform customer "
            "and link to it when the push ends",
            in_flight=refused,
        )
    return kept


def _check_rows_name_known_customers(
    requested: list[RequestedRow], directory: dict[str, QuickBooksCustomer]
) -> None:
    problems = Problems()
    seen: set[str] = set()
    for row in requested:
        where = f"rows[{row.qb_customer_id}]"
        if row.qb_customer_id not in directory:
            problems.add(f"{where}.qb_customer_id", "no such QuickBooks customer", "unknown")
        if row.qb_customer_id in seen:
            problems.add(f"{where}.qb_customer_id", "this row appears twice", "duplicate")
        seen.add(row.qb_customer_id)
        if row.choice == "link_existing" and not row.customer_id:
            problems.add(f"{where}.customer_id", "choose the customer to link", "missing")
    problems.raise_if_any()


async def _check_link_targets(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, changes: list[RowChange]
) -> dict[str, tuple[int, bool]]:
    """Linked customers must exist in this tenant and end up with one QuickBooks customer each.
    Returns the current (version, active) of every customer the changes touch."""
    links = [c for c in changes if c.choice == "link_existing" and c.customer_id]
    touched = {c.customer_id for c in links} | {
        c.previous.customer_id for c in changes if c.previous and c.previous.customer_id
    }
    ids = []
    for cid in touched:
        try:
            ids.append(uuid.UUID(cid))
        except (ValueError, TypeError):
            pass
    rows = await conn.fetch(
        """SELECT customer_id, version, active FROM customers
            WHERE tenant_id = $1 AND customer_id = ANY($2)""",
        tenant_id,
        ids,
    )
    versions = {str(r["customer_id"]): (r["version"], r["active"]) for r in rows}
    changing = {c.qb_customer_id for c in changes}
    # Links that stay as they are after this save.
    kept: dict[str, str | None] = {
        cid: qb_id
        for cid, qb_id in (await mapped_customers(conn, tenant_id, realm_id)).items()
        if qb_id is None or qb_id not in changing
    }
    problems = Problems()
    for change in links:
        where = f"rows[{change.qb_customer_id}].customer_id"
        cid = str(change.customer_id)
        if cid not in versions:
            problems.add(where, "no such customer", "unknown_customer")
        elif cid in kept:
            other = kept[cid] or "a pending push to QuickBooks"
            problems.add(where, f"this customer is already linked to {other}", "already_linked")
        kept[cid] = change.qb_customer_id
    problems.raise_if_any()
    return versions


async def _create_customers(
    conn: asyncpg.Connection,
    tenant_id: str,
    changes: list[RowChange],
    directory: dict[str, QuickBooksCustomer],
    current: dict[str, CurrentMapping],
) -> dict[str, Customer]:
    to_create = [c.qb_customer_id for c in changes if c.choice == "create_here"]
    if not to_create:
        return {}
    # Parents first, so a sub-customer can point at a parent created in the same save.
    to_create.sort(key=lambda qb_id: _depth(qb_id, directory))
    customers = await prepare_new_customers(
        conn,
        tenant_id,
        [customer_values_from_quickbooks(directory[qb_id]) for qb_id in to_create],
        field_prefixes=[f"rows[{qb_id}]." for qb_id in to_create],
    )
    mapped = _mapped_after_save(current, changes)
    created: dict[str, Customer] = {}
    for qb_id, customer in zip(to_create, customers, strict=True):
        parent_qb = directory[qb_id].parent_qb_customer_id or ""
        parent_id = (
            created[parent_qb].customer_id if parent_qb in created else mapped.get(parent_qb)
        )
        # An inactive QuickBooks customer arrives inactive: it must not become selectable here.
        created[qb_id] = customer.replace(parent_id=parent_id, active=directory[qb_id].active)
    await _check_depths(conn, tenant_id, created)
    await insert_customers_refusing_duplicates(conn, list(created.values()))
    await insert_contacts(
        conn,
        tenant_id,
        [
            (str(uuid.uuid4()), customer.customer_id, contact, i == 0)
            for qb_id, customer in created.items()
            for i, contact in enumerate(contacts_from_quickbooks(directory[qb_id]))
        ],
    )
    return created


def _mapped_after_save(
    current: dict[str, CurrentMapping], changes: list[RowChange]
) -> dict[str, str]:
    """QuickBooks id -> customer as this save leaves the links (before its new customers), so a
    sub-customer finds a parent linked in the same save, and not one unlinked by it."""
    mapped = {qb_id: m.customer_id for qb_id, m in current.items() if m.customer_id}
    for change in changes:
        if change.choice == "link_existing" and change.customer_id:
            mapped[change.qb_customer_id] = change.customer_id
        else:
            mapped.pop(change.qb_customer_id, None)
    return mapped


async def _check_depths(
    conn: asyncpg.Connection, tenant_id: str, created: dict[str, Customer]
) -> None:
    """The depth rule of any other parent change. A parent linked here may already sit deeper
    than in QuickBooks. Cycles cannot form: every new customer has a new id, and takes as parent
    only an existing customer or one created before it in this save."""
    new_ids = {c.customer_id for c in created.values()}
    existing = {c.parent_id for c in created.values() if c.parent_id and c.parent_id not in new_ids}
    lengths = await chain_lengths(conn, tenant_id, sorted(existing)) if existing else {}
    problems = Problems()
    for qb_id, customer in created.items():  # parents before their sub-customers
        if customer.parent_id is None:
            lengths[customer.customer_id] = 1
            continue
        above = lengths[customer.parent_id]
        if nests_too_deep(above):
            problems.add(f"rows[{qb_id}].parent_id", TOO_DEEP, "too_deep")
        lengths[customer.customer_id] = above + 1
    problems.raise_if_any()


def _depth(qb_id: str, directory: dict[str, QuickBooksCustomer]) -> int:
    depth, seen = 0, {qb_id}
    parent = directory[qb_id].parent_qb_customer_id
    while parent and parent in directory and parent not in seen:
        seen.add(parent)
        depth += 1
        parent = directory[parent].parent_qb_customer_id
    return depth
