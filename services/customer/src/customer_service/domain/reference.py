"""Per-tenant reference lists: which values a customer field may take, and the default."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import pycountry

from customer_service.domain.errors import Problems

# Customer field -> the reference list that constrains it.
REFERENCED_FIELDS: dict[str, str] = {
    "currency": "currency",
    "category": "category",
    "terms": "terms",
    "sales_rep": "sales_rep",
    "tax_type": "tax_type",
    "delivery_method": "delivery_method",
    "carrier": "carrier",
    "warehouse": "warehouse",
    "country": "country",
}
KINDS = tuple(REFERENCED_FIELDS.values())

# Fields the product's customer form marks required: when missing they take the tenant's default,
# or fail (docs/decisions/0006-customer-api-conventions.md).
REQUIRED_REFERENCES = ("currency", "category", "terms", "sales_rep")

# Seeded for a tenant the first time it is used; admins edit them afterwards.
DEFAULT_LISTS: dict[str, tuple[list[str], str | None]] = {
    "currency": (["USD", "CAD", "EUR", "GBP", "AUD", "NZD", "MXN"], "USD"),
    "category": (["Retail", "Wholesale", "Distributor"], "Retail"),
    "terms": (["Due on Receipt", "Net 15", "Net 30", "Net 60"], "Net 30"),
    "sales_rep": (["House"], "House"),
    "tax_type": (["Taxable", "Exempt"], "Taxable"),
    "delivery_method": (["Standard", "Express", "Pickup"], "Standard"),
    "carrier": (["UPS", "FedEx", "USPS", "DHL"], None),
    "warehouse": (["Main"], "Main"),
    "country": (
        ["US", "CA", "MX", "GB", "IE", "FR", "DE", "ES", "IT", "NL", "BE", "AU", "NZ", "ZA", "IN"],
        None,
    ),
}


@dataclass(frozen=True)
class ReferenceList:
    values: frozenset[str]
    default: str | None = None


@dataclass(frozen=True)
class ReferenceLists:
    lists: dict[str, ReferenceList] = field(default_factory=dict)

    def get(self, kind: str) -> ReferenceList:
        return self.lists.get(kind, ReferenceList(frozenset()))


def fill_and_check_references(
    values: dict[str, object], lists: ReferenceLists, *, creating: bool, prefix: str = ""
) -> dict[str, object]:
    """On create, a missing reference takes its list's default (every list that has one; a
    required one without a default is missing), then every given value must be on its list.
    An optional field sent as null on create stays empty. Raises ValidationFailed naming each
    bad field."""
    result = dict(values)
    problems = Problems()
    for field_name, kind in REFERENCED_FIELDS.items():
        ref = lists.get(kind)
        value = result.get(field_name)
        if value is None:
            if creating and field_name in REQUIRED_REFERENCES:
                if ref.default is None:
                    problems.add(prefix + field_name, f"{field_name} is required", "missing")
                else:
                    result[field_name] = ref.default
            elif creating and field_name not in result and ref.default is not None:
                result[field_name] = ref.default
            elif field_name in result and field_name in REQUIRED_REFERENCES:
                problems.add(prefix + field_name, f"{field_name} cannot be cleared", "missing")
            continue
        if value not in ref.values:
            problems.add(
                prefix + field_name,
                f"{value!r} is not on this tenant's {kind} list",
                "unknown_reference",
            )
    problems.raise_if_any()
    return result


def check_reference_list(kind: str, values: list[str], default: str | None) -> None:
    """A list is checked where it is written, because every later customer takes its values:
    a currency that is not ISO 4217 would then fail every create that defaults to it."""
    problems = Problems()
    for index, value in enumerate(values):
        if any(unicodedata.category(ch).startswith("C") for ch in value):
            problems.add(f"values.{index}", "control characters are not allowed", "invalid")
        elif kind == "currency" and not is_iso_4217(value):
            problems.add(f"values.{index}", f"{value!r} is not an ISO 4217 code", "invalid")
    if default is not None and default not in values:
        problems.add("default", "the default must be one of the values", "invalid")
    problems.raise_if_any()


def is_iso_4217(code: str) -> bool:
    return len(code) == 3 and code.isupper() and pycountry.currencies.get(alpha_3=code) is not None
