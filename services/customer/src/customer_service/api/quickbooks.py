"""HTTP routes for QuickBooks: the directory and mapping form, push and link-by-name."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from customer_service.domain.errors import NotFound
from customer_service.domain.mapping import RequestedRow
from customer_service.handlers.mappings import save_mappings
from customer_service.handlers.quickbooks_links import (
    link_by_display_name,
    request_push_to_quickbooks,
)
from customer_service.store.profile import customer_exists
from customer_service.store.quickbooks import (
    directory_with_mappings,
    mappings_of_customer,
    realms_of,
)
from platform_kit.auth import Principal
from platform_kit.runtime import ServiceRuntime

FormChoice = Literal["dont_import", "create_here", "link_existing"]
# A default has no customer to link to, so "link_existing" is a per-row choice only.
DefaultChoice = Literal["dont_import", "create_here"]
RealmId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class CompanyOut(BaseModel):
    realm_id: str
    customers: int


class MappingRowOut(BaseModel):
    qb_customer_id: str
    display_name: str
    company_name: str | None
    active: bool
    billing_line1: str | None
    billing_line2: str | None
    physical_line1: str | None
    choice: str
    is_default: bool = Field(description="True when no mapping is saved and the default shows")
    customer_id: str | None
    customer_name: str | None
    status: str | None


class MappingRowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    qb_customer_id: str = Field(min_length=1, max_length=64)
    choice: FormChoice
    customer_id: str | None = None


class MappingSaveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_choice: DefaultChoice | None = Field(
        default=None, description="Applied to every QuickBooks customer with no mapping yet"
    )
    rows: list[MappingRowIn] = Field(default_factory=list, max_length=20_000)


class MappingSaveOut(BaseModel):
    changed_rows: int
    created_customers: dict[str, str] = Field(description="QuickBooks id -> new customer id")


class PushIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    realm_id: RealmId


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    realm_id: RealmId
    # Not stripped: spaces count in an exact QuickBooks name.
    display_name: str = Field(min_length=1, max_length=500)


class CustomerLinkOut(BaseModel):
    realm_id: str
    qb_customer_id: str | None
    qb_display_name: str | None
    choice: str
    status: str
    last_error: str | None
    updated_at: datetime


def _line(address: Any, key: str) -> str | None:
    if isinstance(address, str):
        address = json.loads(address)
    if not address:
        return None
    value = address.get(key) or address.get(key[0].upper() + key[1:])  # QuickBooks: Line1
    return str(value) if value else None


def quickbooks_routes(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(tags=["quickbooks"])
    reader = Depends(runtime.auth.require("read"))
    writer = Depends(runtime.auth.require("write"))

    @router.get("/quickbooks/companies", response_model=list[CompanyOut])
    async def companies(principal: Principal = reader) -> list[dict[str, Any]]:
        return [dict(r) for r in await realms_of(runtime.db, principal.tenant_id)]

    @router.get("/quickbooks/companies/{realm_id}/mappings", response_model=list[MappingRowOut])
    async def mapping_form(
        realm_id: str, default_choice: DefaultChoice = "dont_import", principal: Principal = reader
    ) -> list[MappingRowOut]:
        rows = await directory_with_mappings(runtime.db, principal.tenant_id, realm_id)
        return [
            MappingRowOut(
                qb_customer_id=r["qb_customer_id"],
                display_name=r["display_name"],
                company_name=r["company_name"],
                active=r["active"],
                billing_line1=_line(r["billing_address"], "line1"),
                billing_line2=_line(r["billing_address"], "line2"),
                physical_line1=_line(r["shipping_address"], "line1"),
                choice=r["choice"] or default_choice,
                is_default=r["choice"] is None,
                customer_id=str(r["customer_id"]) if r["customer_id"] else None,
                customer_name=r["customer_name"],
                status=r["status"],
            )
            for r in rows
        ]

    @router.put("/quickbooks/companies/{realm_id}/mappings", response_model=MappingSaveOut)
    async def save_form(
        realm_id: str, body: MappingSaveIn, principal: Principal = writer
    ) -> MappingSaveOut:
        result = await save_mappings(
            runtime.db,
            principal.tenant_id,
            realm_id,
            [RequestedRow(r.qb_customer_id, r.choice, r.customer_id) for r in body.rows],
            body.default_choice,
        )
        return MappingSaveOut(
            changed_rows=result.changed, created_customers=result.created_customer_ids
        )

    @router.get("/customers/{customer_id}/quickbooks", response_model=list[CustomerLinkOut])
    async def links(customer_id: str, principal: Principal = reader) -> list[dict[str, Any]]:
        if not await customer_exists(runtime.db, principal.tenant_id, customer_id):
            raise NotFound(f"customer {customer_id} not found")
        return [
            dict(r)
            for r in await mappings_of_customer(runtime.db, principal.tenant_id, customer_id)
        ]

    @router.post("/customers/{customer_id}/quickbooks/push", status_code=202)
    async def push(customer_id: str, body: PushIn, principal: Principal = writer) -> dict[str, str]:
        await request_push_to_quickbooks(
            runtime.db, principal.tenant_id, customer_id, body.realm_id
        )
        return {"status": "pending", "realm_id": body.realm_id, "customer_id": customer_id}

    @router.post("/customers/{customer_id}/quickbooks/link")
    async def link(customer_id: str, body: LinkIn, principal: Principal = writer) -> dict[str, str]:
        qb_id = await link_by_display_name(
            runtime.db, principal.tenant_id, customer_id, body.realm_id, body.display_name
        )
        return {"status": "linked", "realm_id": body.realm_id, "qb_customer_id": qb_id}

    return router
