"""The customer aggregate: its fields, how a change applies, and the snapshot events carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict

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


class Customer(CustomerSnapshot):
    """The aggregate: the contract's snapshot of a customer plus the tenant that owns it, so a
    new field is declared once, in the contract (libs/events), and the domain, the store, the
    API and the events all take it from there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str

    def fields(self) -> dict[str, Any]:
        # Shallow on purpose: a deep copy of every customer dominated list latency.
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    def replace(self, **changes: Any) -> Customer:
        """A copy with `changes` applied, validated like a new customer (an address given as a
        dict becomes an Address)."""
        return Customer.model_validate({**self.fields(), **changes})


_FIELD_NAMES = tuple(Customer.model_fields)


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
    editable = {name: value for name, value in changes.items() if name in EDITABLE_FIELDS}
    # Compared as the customer holds them (an address sent as a dict is compared as an Address).
    candidate = customer.replace(**editable)
    changed = sorted(
        name for name in editable if getattr(candidate, name) != getattr(customer, name)
    )
    if not changed:
        return Change(customer, [])
    return Change(candidate.replace(version=customer.version + 1), changed)


def set_active(customer: Customer, active: bool) -> Change:
    if customer.active == active:
        return Change(customer, [])
    return Change(customer.replace(active=active, version=customer.version + 1), ["active"])


def snapshot_of(customer: Customer) -> CustomerSnapshot:
    values = customer.fields()
    values.pop("tenant_id")
    return CustomerSnapshot.model_validate(values)
