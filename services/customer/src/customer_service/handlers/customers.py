"""Use cases that change a customer: create, update, inactivate, reactivate.

Each runs in one transaction: customer row first (its lock orders one customer's events), then
the outbox row. Nothing is published here; the relay does that after commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from customer_service.domain.customer import (
    Change,
    Customer,
    apply_changes,
    cleared_required_fields,
    new_customer,
    set_active,
    snapshot_of,
)
from customer_service.domain.errors import Conflict, NotFound, Problems, ValidationFailed
from customer_service.domain.hierarchy import check_new_parent
from customer_service.domain.reference import ReferenceLists, fill_and_check_references
from customer_service.handlers.envelopes import customer_envelope
from customer_service.store import outbox
from customer_service.store.customers import (
    free_tracking_numbers,
    insert_customers,
    load_customer,
    lock_hierarchy,
    parent_chain,
    tracking_numbers_taken,
    update_customer,
)
from customer_service.store.reference import load_reference_lists, seeded_transaction
from platform_events.contracts.customer import (
    CustomerCreated,
    CustomerInactivated,
    CustomerReactivated,
    CustomerUpdated,
)


def created_event(customer: Customer):  # type: ignore[no-untyped-def]
    return customer_envelope(
        CustomerCreated(customer=snapshot_of(customer)),
        tenant_id=customer.tenant_id,
        subject=customer.customer_id,
        version=customer.version,
    )


async def prepare_new_customers(
    conn: asyncpg.Connection,
    tenant_id: str,
    values_list: Sequence[dict[str, Any]],
    *,
    lists: ReferenceLists | None = None,
    field_prefixes: Sequence[str] | None = None,
) -> list[Customer]:
    """Validate, default and number new customers (not yet written)."""
    lists = lists or await load_reference_lists(conn, tenant_id)
    prefixes = field_prefixes or [""] * len(values_list)
    problems = Problems()
    checked: list[dict[str, Any]] = []
    for values, prefix in zip(values_list, prefixes, strict=True):
        try:
            checked.append(fill_and_check_references(values, lists, creating=True, prefix=prefix))
        except ValidationFailed as exc:
            problems.items.extend(exc.problems)
    problems.raise_if_any()
    await _check_tracking_numbers(conn, tenant_id, checked, prefixes)
    await _assign_tracking_numbers(conn, tenant_id, checked)
    for values, prefix in zip(checked, prefixes, strict=True):
        if values.get("parent_id") is not None:
            await _check_parent(conn, tenant_id, None, values["parent_id"], prefix)
    return [new_customer(tenant_id, str(uuid.uuid4()), values) for values in checked]


async def create_customer(pool: asyncpg.Pool, tenant_id: str, values: dict[str, Any]) -> Customer:
    async with seeded_transaction(pool, tenant_id) as conn:
        [customer] = await prepare_new_customers(conn, tenant_id, [values])
        await insert_customers_refusing_duplicates(conn, [customer])
        await outbox.record_events(conn, [created_event(customer)])
    return customer


async def update_customer_fields(
    pool: asyncpg.Pool,
    tenant_id: str,
    customer_id: str,
    changes: dict[str, Any],
    expected_version: int | None,
) -> Customer:
    async with seeded_transaction(pool, tenant_id) as conn:
        return await _update(conn, tenant_id, customer_id, changes, expected_version)


async def _update(
    conn: asyncpg.Connection,
    tenant_id: str,
    customer_id: str,
    changes: dict[str, Any],
    expected_version: int | None,
) -> Customer:
    customer = await _load_for_change(conn, tenant_id, customer_id, expected_version)
    lists = await load_reference_lists(conn, tenant_id)
    _check_changes(changes, lists)
    if changes.get("parent_id") is not None and changes["parent_id"] != customer.parent_id:
        await lock_hierarchy(conn, tenant_id)
        await _check_parent(conn, tenant_id, customer_id, changes["parent_id"], "")
    change = apply_changes(customer, changes)
    if "tracking_number" in change.changed_fields:
        await _check_tracking_numbers(conn, tenant_id, [changes], [""])
    if change.changed:
        await _write_change(conn, change)
        await outbox.record_events(
            conn,
            [
                customer_envelope(
                    CustomerUpdated(
                        changed_fields=change.changed_fields,
                        customer=snapshot_of(change.customer),
                    ),
                    tenant_id=tenant_id,
                    subject=customer_id,
                    version=change.customer.version,
                )
            ],
        )
    return change.customer


def _check_changes(changes: dict[str, Any], lists: ReferenceLists) -> None:
    """One 422 naming every bad field: cleared required fields and off-list references."""
    problems = Problems(cleared_required_fields(changes))
    try:
        fill_and_check_references(changes, lists, creating=False)
    except ValidationFailed as exc:
        problems.items.extend(exc.problems)
    problems.raise_if_any()


async def set_customer_active(
    pool: asyncpg.Pool,
    tenant_id: str,
    customer_id: str,
    active: bool,
    expected_version: int | None,
    reason: str | None = None,
) -> Customer:
    """Inactivate or reactivate; doing it twice is a no-op without a second event."""
    async with pool.acquire() as conn, conn.transaction():
        customer = await _load_for_change(conn, tenant_id, customer_id, expected_version)
        change = set_active(customer, active)
        if change.changed:
            await update_customer(conn, change.customer, ["active"])
            snapshot = snapshot_of(change.customer)
            data = (
                CustomerReactivated(customer=snapshot)
                if active
                else CustomerInactivated(customer=snapshot, reason=reason)
            )
            await outbox.record_events(
                conn,
                [
                    customer_envelope(
                        data,
                        tenant_id=tenant_id,
                        subject=customer_id,
                        version=change.customer.version,
                    )
                ],
            )
    return change.customer


async def _load_for_change(
    conn: asyncpg.Connection, tenant_id: str, customer_id: str, expected_version: int | None
) -> Customer:
    customer = await load_customer(conn, tenant_id, customer_id, for_update=True)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    if expected_version is not None and expected_version != customer.version:
        raise Conflict(
            f"customer {customer_id} is at version {customer.version}, not {expected_version}",
            current_version=customer.version,
        )
    return customer


async def _write_change(conn: asyncpg.Connection, change: Change) -> None:
    # No savepoint: the error aborts the whole transaction, which is what we want.
    try:
        await update_customer(conn, change.customer, change.changed_fields)
    except asyncpg.UniqueViolationError:
        raise _tracking_number_taken("tracking_number") from None


async def insert_customers_refusing_duplicates(
    conn: asyncpg.Connection, customers: list[Customer]
) -> None:
    try:
        await insert_customers(conn, customers)
    except asyncpg.UniqueViolationError:
        raise _tracking_number_taken("tracking_number") from None


def _tracking_number_taken(field: str) -> ValidationFailed:
    problems = Problems()
    problems.add(field, "this tracking number is already used by another customer", "taken")
    return ValidationFailed(problems.items)


async def _check_tracking_numbers(
    conn: asyncpg.Connection,
    tenant_id: str,
    values_list: Sequence[dict[str, Any]],
    prefixes: Sequence[str],
) -> None:
    given = [
        (v["tracking_number"], p)
        for v, p in zip(values_list, prefixes, strict=True)
        if v.get("tracking_number")
    ]
    if not given:
        return
    taken = await tracking_numbers_taken(conn, tenant_id, [n for n, _ in given])
    problems = Problems()
    seen: set[str] = set()
    for number, prefix in given:
        if number in taken or number in seen:
            problems.items.extend(tracking_number_is_taken(number, prefix).problems)
        seen.add(number)
    problems.raise_if_any()


def tracking_number_is_taken(number: str, prefix: str = "") -> ValidationFailed:
    problems = Problems()
    problems.add(prefix + "tracking_number", f"tracking number {number!r} is taken", "taken")
    return ValidationFailed(problems.items)


async def _assign_tracking_numbers(
    conn: asyncpg.Connection, tenant_id: str, values_list: list[dict[str, Any]]
) -> None:
    missing = [v for v in values_list if not v.get("tracking_number")]
    while missing:
        free = await free_tracking_numbers(conn, tenant_id, len(missing))
        for values, number in zip(missing, free, strict=False):
            values["tracking_number"] = number
        missing = missing[len(free) :]


async def _check_parent(
    conn: asyncpg.Connection,
    tenant_id: str,
    customer_id: str | None,
    parent_id: str,
    prefix: str,
) -> None:
    try:
        uuid.UUID(parent_id)
    except ValueError:
        chain: list[str] = []
    else:
        chain = await parent_chain(conn, tenant_id, parent_id)
    if not chain:
        problems = Problems()
        problems.add(prefix + "parent_id", "no such customer", "unknown_customer")
        problems.raise_if_any()
    check_new_parent(customer_id, chain)
