"""HTTP routes for QuickBooks: the directory and mapping form, push and link-by-name."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from customer_service.api.schemas import nfc
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
    in_flight_key,
    mappings_of_customer,
    pushes_in_flight,
    realms_of,
)
from platform_kit.deps import Db, Reader, Writer

FormChoice = Literal["dont_import", "create_here", "link_existing"]
# A default has no customer to link to, so "link_existing" is a per-row choice only.
DefaultChoice = Literal["dont_import", "create_here"]
RealmId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class CompanyOut(BaseModel):
    realm_id: str
    provider: str = Field(default="qbo", description="qbo: QuickBooks Online; qbd: Desktop")
    customers: int


class MappingRowOut(BaseModel):
    qb_customer_id: str
    display_name: str
    full_name: str | None = Field(
        default=None, description="QuickBooks Desktop's exact FullName (`Parent:Job`)"
    )
    provider: str = "qbo"
    label: str = Field(
        default="", description="What the link picker shows: the company name, else the name"
    )
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
    # Not stripped: spaces count in an exact QuickBooks name. NFC like every name we store.
    display_name: Annotated[
        str,
        AfterValidator(nfc),
        Field(
            min_length=1,
            max_length=500,
            description="The exact QuickBooks name: an Online customer's display name, a "
            "Desktop customer's Customer Name as its FullName (`Parent:Job` for a job)",
        ),
    ]


class PushOut(BaseModel):
    status: str
    realm_id: str
    customer_id: str


class LinkOut(BaseModel):
    status: str
    realm_id: str
    qb_customer_id: str


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


router = APIRouter(tags=["quickbooks"])
Realm = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/quickbooks/companies", response_model=list[CompanyOut])
async def companies(db: Db, who: Reader) -> list[dict[str, Any]]:
    return [dict(r) for r in await realms_of(db, who.tenant_id)]


@router.get("/quickbooks/companies/{realm_id}/mappings", response_model=list[MappingRowOut])
async def mapping_form(
    realm_id: Realm, db: Db, who: Reader, default_choice: DefaultChoice = "dont_import"
) -> list[MappingRowOut]:
    rows = await directory_with_mappings(db, who.tenant_id, realm_id)
    in_flight = await pushes_in_flight(db, who.tenant_id, realm_id)
    return [_unless_in_flight(mapping_row(r, default_choice), in_flight) for r in rows]


def _unless_in_flight(row: MappingRowOut, in_flight: dict[str, tuple[str, str]]) -> MappingRowOut:
    """An unmapped QuickBooks customer a push is still creating shows as that push's, pending
    (it is not free for "create here": that would make a second platform customer)."""
    pushing = in_flight.get(in_flight_key(row.display_name)) if row.is_default else None
    if pushing is None:
        return row
    return row.model_copy(
        update={
            "choice": "push_to_quickbooks",
            "is_default": False,
            "customer_id": pushing[0],
            "customer_name": pushing[1],
            "status": "push_in_flight",
        }
    )


@router.put(
    "/quickbooks/companies/{realm_id}/mappings",
    response_model=MappingSaveOut,
    responses={409: {"description": "A row names a customer another row or company holds"}},
)
async def save_form(realm_id: Realm, body: MappingSaveIn, db: Db, who: Writer) -> MappingSaveOut:
    rows = [RequestedRow(r.qb_customer_id, r.choice, r.customer_id) for r in body.rows]
    result = await save_mappings(db, who.tenant_id, realm_id, rows, body.default_choice)
    return MappingSaveOut(
        changed_rows=result.changed, created_customers=result.created_customer_ids
    )


@router.get("/customers/{customer_id}/quickbooks", response_model=list[CustomerLinkOut])
async def links(customer_id: str, db: Db, who: Reader) -> list[dict[str, Any]]:
    if not await customer_exists(db, who.tenant_id, customer_id):
        raise NotFound(f"customer {customer_id} not found")
    return [dict(r) for r in await mappings_of_customer(db, who.tenant_id, customer_id)]


@router.post(
    "/customers/{customer_id}/quickbooks/push",
    status_code=202,
    response_model=PushOut,
    responses={409: {"description": "The customer is linked differently in this company"}},
)
async def push(customer_id: str, body: PushIn, db: Db, who: Writer) -> PushOut:
    await request_push_to_quickbooks(db, who.tenant_id, customer_id, body.realm_id)
    return PushOut(status="pending", realm_id=body.realm_id, customer_id=customer_id)


@router.post(
    "/customers/{customer_id}/quickbooks/link",
    response_model=LinkOut,
    responses={409: {"description": "The QuickBooks customer is linked to another customer"}},
)
async def link(customer_id: str, body: LinkIn, db: Db, who: Writer) -> LinkOut:
    qb_id = await link_by_display_name(
        db, who.tenant_id, customer_id, body.realm_id, body.display_name
    )
    return LinkOut(status="linked", realm_id=body.realm_id, qb_customer_id=qb_id)


def mapping_row(r: Any, default_choice: str) -> MappingRowOut:
    return MappingRowOut(
        qb_customer_id=r["qb_customer_id"],
        display_name=r["display_name"],
        full_name=r["full_name"],
        provider=r["provider"],
        label=(r["company_name"] or "").strip() or r["display_name"],
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
