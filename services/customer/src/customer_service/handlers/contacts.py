"""Contacts of a customer: exactly one is primary whenever any exist."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from customer_service.domain.errors import FieldProblem, NotFound, ValidationFailed
from customer_service.store.profile import (
    delete_contact,
    insert_contacts,
    list_contacts,
    lock_customer,
    set_primary,
    update_contact,
)


async def _locked_contacts(
    conn: asyncpg.Connection, tenant_id: str, customer_id: str
) -> list[dict[str, Any]]:
    if not await lock_customer(conn, tenant_id, customer_id):
        raise NotFound(f"customer {customer_id} not found")
    return await list_contacts(conn, tenant_id, customer_id)


def _find(contacts: list[dict[str, Any]], contact_id: str) -> dict[str, Any]:
    for contact in contacts:
        if contact["contact_id"] == contact_id:
            return contact
    raise NotFound(f"contact {contact_id} not found")


async def add_contact(
    pool: asyncpg.Pool, tenant_id: str, customer_id: str, fields: dict[str, Any], primary: bool
) -> list[dict[str, Any]]:
    async with pool.acquire() as conn, conn.transaction():
        existing = await _locked_contacts(conn, tenant_id, customer_id)
        contact_id = str(uuid.uuid4())
        # The first contact is the primary one, whatever the client said.
        make_primary = primary or not existing
        if make_primary:
            await set_primary(conn, customer_id, None)
        await insert_contacts(conn, tenant_id, [(contact_id, customer_id, fields, make_primary)])
        return [
            c
            for c in await list_contacts(conn, tenant_id, customer_id)
            if c["contact_id"] == contact_id
        ]


async def edit_contact(
    pool: asyncpg.Pool,
    tenant_id: str,
    customer_id: str,
    contact_id: str,
    fields: dict[str, Any],
    primary: bool | None,
) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        contact = _find(await _locked_contacts(conn, tenant_id, customer_id), contact_id)
        if primary is False and contact["is_primary"]:
            raise ValidationFailed(
                [
                    FieldProblem(
                        "is_primary", "make another contact primary instead", "primary_required"
                    )
                ]
            )
        await update_contact(conn, contact_id, fields)
        if primary and not contact["is_primary"]:
            await set_primary(conn, customer_id, contact_id)
        return _find(await list_contacts(conn, tenant_id, customer_id), contact_id)


async def remove_contact(
    pool: asyncpg.Pool, tenant_id: str, customer_id: str, contact_id: str
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        contacts = await _locked_contacts(conn, tenant_id, customer_id)
        contact = _find(contacts, contact_id)
        await delete_contact(conn, contact_id)
        remaining = [c for c in contacts if c["contact_id"] != contact_id]
        if contact["is_primary"] and remaining:
            await set_primary(conn, customer_id, remaining[0]["contact_id"])
