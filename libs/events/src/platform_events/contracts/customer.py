"""Events the customer service publishes on `customer.events`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from platform_events.envelope import EventData
from platform_events.money import CurrencyCode


class Address(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class CustomerSnapshot(BaseModel):
    """The full state of a customer after the change, so a consumer never has to ask for it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    customer_id: str
    parent_id: str | None = None
    active: bool = True
    customer_type: Literal["individual", "business"] = "business"
    company_name: str
    display_name: str | None = None
    contact_name: str | None = None
    tracking_number: str
    ext_account_number: str | None = None
    sub_account_number: str | None = None
    currency: CurrencyCode
    category: str | None = None
    sales_rep: str | None = None
    terms: str | None = None
    country: str | None = None
    warehouse: str | None = None
    tax_type: str | None = None
    delivery_method: str | None = None
    carrier: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    fax: str | None = None
    website: str | None = None
    factored: bool = False
    web_sales: bool = False
    allow_partial_payments: bool = False
    product_display: Literal["standard_and_exclusive", "exclusive_only"] = "standard_and_exclusive"
    discount_basis_points: int = Field(default=0, ge=0, le=10_000)
    credit_limit_minor: int | None = None
    sales_limit_minor: int | None = None
    billing_address: Address | None = None
    delivery_address: Address | None = None
    postal_address: Address | None = None
    version: int = Field(ge=1)


class CustomerCreated(EventData):
    event_type = "customer.created.v1"
    customer: CustomerSnapshot


class CustomerUpdated(EventData):
    event_type = "customer.updated.v1"
    changed_fields: list[str]
    customer: CustomerSnapshot


class CustomerInactivated(EventData):
    event_type = "customer.inactivated.v1"
    customer: CustomerSnapshot
    reason: str | None = None


class CustomerReactivated(EventData):
    event_type = "customer.reactivated.v1"
    customer: CustomerSnapshot


MappingChoice = Literal["dont_import", "create_here", "link_existing", "push_to_quickbooks"]


class MappingSaved(EventData):
    """One QuickBooks customer mapping row changed: the choice for one QuickBooks customer of a
    company, or a request to push a platform customer
    (docs/decisions/0009-customer-quickbooks-mappings.md)."""

    event_type = "customer.mapping-saved.v1"
    realm_id: str = Field(description="QuickBooks company id")
    qb_customer_id: str | None = Field(
        default=None, description="None when the platform asks for a new QuickBooks customer"
    )
    choice: MappingChoice
    previous_choice: MappingChoice | None = None
    customer_id: str | None = None
    qb_display_name: str | None = None
    customer_active: bool | None = Field(
        default=None,
        description="The customer's active flag when the row is about one (None: about none)",
    )
    mapping_sequence: int | None = Field(
        default=None,
        description="Grows with every mapping change of the tenant's QuickBooks company: of two "
        "changes about one QuickBooks customer (keyed by different customers, so they may arrive "
        "in either order) the higher is the newer. None from producers before this field",
    )
