"""The other direction: ask for a customer to be created in QuickBooks, or link it by the exact
QuickBooks name (an Online display name; a Desktop FullName, seed 004). One link per customer per
QuickBooks company, and the reverse. The link keeps the QuickBooks id (Desktop: the ListID), so a
rename on either side leaves it in place."""

from __future__ import annotations

import difflib

import asyncpg

from customer_service.domain.customer import Customer
from customer_service.domain.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from customer_service.domain.importing import QuickBooksCustomer
from customer_service.domain.mapping import PUSH
from customer_service.handlers.mappings import mapping_saved_event
from customer_service.store import outbox
from customer_service.store.customers import load_customer
from customer_service.store.quickbooks import (
    current_mappings,
    directory_names,
    find_by_display_name,
    insert_push_request,
    lock_mappings,
    mapped_customers,
    next_unowned_sequences,
    quickbooks_customer_of,
    write_mappings,
)


async def request_push_to_quickbooks(
    pool: asyncpg.Pool, tenant_id: str, customer_id: str, realm_id: str
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        customer = await _lock_customer(conn, tenant_id, realm_id, customer_id)
        await _refuse_if_mapped(conn, tenant_id, realm_id, customer_id)
        await insert_push_request(conn, tenant_id, realm_id, customer_id)
        await _record_mapping_saved(conn, tenant_id, realm_id, None, PUSH, None, customer)


async def link_by_display_name(
    pool: asyncpg.Pool, tenant_id: str, customer_id: str, realm_id: str, display_name: str
) -> str:
    """Returns the QuickBooks customer id linked. No exact match is a 422 showing the closest
    names; nothing is ever linked by a guess."""
    async with pool.acquire() as conn, conn.transaction():
        customer = await _lock_customer(conn, tenant_id, realm_id, customer_id)
        matches = await find_by_display_name(conn, tenant_id, realm_id, display_name)
        if len(matches) > 1:
            # Only while a rename is on its way here: linking either would be a guess.
            raise Conflict(
                f"QuickBooks customers {', '.join(r['qb_customer_id'] for r in matches)} "
                "both show this display name until their latest changes arrive; try again "
                "shortly or link from the mapping form",
                qb_customer_ids=[r["qb_customer_id"] for r in matches],
            )
        if not matches:
            names = await directory_names(conn, tenant_id, realm_id)
            closest = difflib.get_close_matches(display_name, names, n=5, cutoff=0.5)
            raise ValidationFailed(
                [
                    FieldProblem(
                        "display_name",
                        "no QuickBooks customer has exactly this name",
                        "no_exact_match",
                    )
                ],
                "no QuickBooks customer has exactly this name (spaces and case count)",
                closest_names=closest,
            )
        qb = quickbooks_customer_of(matches[0])
        await _refuse_if_mapped(conn, tenant_id, realm_id, customer_id)
        previous = (await current_mappings(conn, tenant_id, realm_id)).get(qb.qb_customer_id)
        if previous is not None and previous.customer_id is not None:
            raise Conflict(
                f"QuickBooks customer {qb.link_name!r} is already linked to another customer",
                linked_customer_id=previous.customer_id,
            )
        await write_mappings(
            conn, tenant_id, realm_id, [(qb.qb_customer_id, "link_existing", customer_id)]
        )
        previous_choice = previous.choice if previous else None
        await _record_mapping_saved(
            conn, tenant_id, realm_id, qb, "link_existing", previous_choice, customer
        )
        return qb.qb_customer_id


async def _lock_customer(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, customer_id: str
) -> Customer:
    """The company's mappings and the customer, locked for this change (404 when no customer)."""
    await lock_mappings(conn, tenant_id, realm_id)
    customer = await load_customer(conn, tenant_id, customer_id, for_update=True)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    return customer


async def _record_mapping_saved(
    conn: asyncpg.Connection,
    tenant_id: str,
    realm_id: str,
    qb: QuickBooksCustomer | None,
    choice: str,
    previous_choice: str | None,
    customer: Customer,
) -> None:
    # Every MappingSaved carries one: qb-sync orders a company's mapping changes by it.
    [mapping_sequence] = await next_unowned_sequences(conn, 1)
    event = mapping_saved_event(
        tenant_id,
        realm_id,
        qb,
        choice,
        previous_choice,
        customer.customer_id,
        customer.version,
        customer.active,
        mapping_sequence,
    )
    await outbox.record_events(conn, [event])


async def _refuse_if_mapped(
    conn: asyncpg.Connection, tenant_id: str, realm_id: str, customer_id: str
) -> None:
    mapped = await mapped_customers(conn, tenant_id, realm_id)
    if customer_id in mapped:
        what = mapped[customer_id] or "a pending push"
        raise Conflict(
            f"customer is already linked to QuickBooks customer {what} in company {realm_id}"
        )


__all__ = ["QuickBooksCustomer", "link_by_display_name", "request_push_to_quickbooks"]
