"""The customer aggregate: its fields, how a change applies, and the snapshot events carry."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from customer_service.domain.errors import FieldProblem
from platform_events.contracts.customer import Address, CustomerSnapshot

ADDRESS_FIELDS = tuple(
    name
    for name, field in CustomerSnapshot.model_fields.items()
    if field.annotation == Address | None
)

# The events contract's snapshot is the one definition of a customer's fields; everything below
# derives from it or is checked against it. Identity, version and the active flag change only
# through commands, so the rest is what a client may set.
COMMAND_ONLY_FIELDS = ("customer_id", "version", "active")
EDITABLE_FIELDS = tuple(
    name for name in CustomerSnapshot.model_fields if name not in COMMAND_ONLY_FIELDS
)

# Fields that always hold a value (required on create, or with a default): a change may replace
# them, never clear them.
NEVER_EMPTY_FIELDS = (
    "customer_type",
    "company_name",
    "contact_name",
    "tracking_number",
    "product_display",
)


def cleared_required_fields(changes: dict[str, Any]) -> list[FieldProblem]:
    return [
        FieldProblem(name, f"{name} cannot be cleared", "missing")
        for name in NEVER_EMPTY_FIELDS
        if name in changes and changes[name] is None
    ]


@dataclass(frozen=True)
class Customer:
    tenant_id: str
    customer_id: str
    company_name: str
    tracking_number: str
    currency: str
    version: int = 1
    active: bool = True
    parent_id: str | None = None
    customer_type: str = "business"
    display_name: str | None = None
    contact_name: str | None = None
    ext_account_number: str | None = None
    sub_account_number: str | None = None
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
    product_display: str = "standard_and_exclusive"
    discount_basis_points: int = 0
    credit_limit_minor: int | None = None
    sales_limit_minor: int | None = None
    billing_address: dict[str, Any] | None = None
    delivery_address: dict[str, Any] | None = None
    postal_address: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        # Shallow on purpose: dataclasses.asdict deep-copies and dominated list latency.
        return {name: getattr(self, name) for name in _FIELD_NAMES}


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Customer))
# The record is declared field by field so that type checkers see each attribute; its types are
# the stored ones (an address is the JSON object as stored). Its fields must be the contract's.
if set(_FIELD_NAMES) != {"tenant_id", *CustomerSnapshot.model_fields}:
    raise TypeError("Customer's fields differ from CustomerSnapshot's: change both together")


@dataclass(frozen=True)
class Change:
    customer: Customer
    changed_fields: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.changed_fields)


def new_customer(tenant_id: str, customer_id: str, values: dict[str, Any]) -> Customer:
    known = {k: v for k, v in values.items() if k in EDITABLE_FIELDS and v is not None}
    return Customer(tenant_id=tenant_id, customer_id=customer_id, version=1, **known)


def apply_changes(customer: Customer, changes: dict[str, Any]) -> Change:
    """Only fields whose value really differs count; the version moves only when one does."""
    current = customer.fields()
    changed = sorted(
        name
        for name, value in changes.items()
        if name in EDITABLE_FIELDS and current[name] != value
    )
    if not changed:
        return Change(customer, [])
    updated = dataclasses.replace(
        customer, version=customer.version + 1, **{name: changes[name] for name in changed}
    )
    return Change(updated, changed)


def set_active(customer: Customer, active: bool) -> Change:
    if customer.active == active:
        return Change(customer, [])
    return Change(
        dataclasses.replace(customer, active=active, version=customer.version + 1), ["active"]
    )


def snapshot_of(customer: Customer) -> CustomerSnapshot:
    values = customer.fields()
    values.pop("tenant_id")
    return CustomerSnapshot.model_validate(values)
