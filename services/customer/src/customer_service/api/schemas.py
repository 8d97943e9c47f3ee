"""Request and response bodies of the customer API."""

from __future__ import annotations

import typing
import unicodedata
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, create_model

from customer_service.domain.customer import COMMAND_ONLY_FIELDS, EDITABLE_FIELDS, Customer


def nfc(text: str) -> str:
    """One spelling per name: "Café" typed as é or as e + U+0301 is the same customer, found by
    the same search and sent to QuickBooks the same way (docs/decisions/0015-api-shape.md)."""
    return unicodedata.normalize("NFC", text)


# Names and free text, normalised to NFC on the way in (length counts the normalised text).
Text = Annotated[
    str,
    AfterValidator(nfc),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
]
LongText = Annotated[
    str,
    AfterValidator(nfc),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=40, pattern=r"^[0-9+()\-.\s xext]+$")
]
Website = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=300, pattern=r"^(https?://)?[^\s]+\.[^\s]+$"
    ),
]
Percent = Annotated[Decimal, Field(ge=0, le=100, decimal_places=2)]
MinorUnits = Annotated[int, Field(ge=0, le=10**15, strict=True)]


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line1: Text | None = None
    line2: Text | None = None
    city: Text | None = None
    region: Text | None = None
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = (
        None
    )
    country: Text | None = None


class CustomerFieldsIn(BaseModel):
    """Every editable field. On create, unset fields take defaults; on update, only set ones apply."""

    model_config = ConfigDict(extra="forbid")

    parent_id: str | None = None
    customer_type: Literal["individual", "business"] | None = None
    company_name: Text | None = None
    display_name: Text | None = None
    contact_name: Text | None = None
    tracking_number: (
        Annotated[
            str,
            AfterValidator(nfc),
            StringConstraints(strip_whitespace=True, min_length=1, max_length=40),
        ]
        | None
    ) = None
    ext_account_number: Text | None = None
    sub_account_number: Text | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    category: Text | None = None
    sales_rep: Text | None = None
    terms: Text | None = None
    country: Text | None = None
    warehouse: Text | None = None
    tax_type: Text | None = None
    delivery_method: Text | None = None
    carrier: Text | None = None
    email: Email | None = None
    phone: Phone | None = None
    mobile: Phone | None = None
    fax: Phone | None = None
    website: Website | None = None
    factored: bool | None = None
    web_sales: bool | None = None
    allow_partial_payments: bool | None = None
    product_display: Literal["standard_and_exclusive", "exclusive_only"] | None = None
    discount_percent: Percent | None = None
    credit_limit_minor: MinorUnits | None = None
    sales_limit_minor: MinorUnits | None = None
    billing_address: AddressIn | None = None
    delivery_address: AddressIn | None = None
    postal_address: AddressIn | None = None

    def domain_values(self) -> dict[str, Any]:
        """The fields the client sent, in domain terms (percent -> basis points)."""
        values = self.model_dump(exclude_unset=True)
        if "discount_percent" in values:
            percent = values.pop("discount_percent")
            values["discount_basis_points"] = int(percent * 100) if percent is not None else 0
        for flag in ("factored", "web_sales", "allow_partial_payments"):
            if flag in values and values[flag] is None:
                values[flag] = False
        return values


# The input model declares each field's rules for input; its fields must be the editable ones.
if set(CustomerFieldsIn.model_fields) != {
    "discount_percent" if name == "discount_basis_points" else name for name in EDITABLE_FIELDS
}:
    raise TypeError("CustomerFieldsIn's fields differ from the editable fields of CustomerSnapshot")


class CustomerCreateIn(CustomerFieldsIn):
    company_name: Text
    contact_name: Text


class CustomerPatchIn(CustomerFieldsIn):
    pass


def _customer_out_fields() -> dict[str, Any]:
    """The domain record's fields as stored (the discount in percent), all required, and flags."""
    types = typing.get_type_hints(Customer)
    fields: dict[str, Any] = {}
    for name in (*COMMAND_ONLY_FIELDS, *EDITABLE_FIELDS):
        if name == "discount_basis_points":
            fields["discount_percent"] = (Decimal, ...)
        else:
            fields[name] = (types[name], ...)
    flags = ("linked_to_quickbooks", "overdue", "credit_limit_exceeded")
    return {**fields, **{flag: (bool, False) for flag in flags}}


# A customer as the API shows it, derived from the domain record so no field is listed twice
# (a comment, not a docstring: a docstring would become the OpenAPI description). mypy cannot
# follow a base built at run time, hence the ignore; the fields are checked by pydantic.
class CustomerOut(create_model("CustomerOutFields", **_customer_out_fields())):  # type: ignore[misc]
    @classmethod
    def of(cls, customer: Customer, **flags: bool) -> CustomerOut:
        values = customer.fields()
        values.pop("tenant_id")
        values["discount_percent"] = Decimal(values.pop("discount_basis_points")) / 100
        return cls.model_validate({**values, **flags})


class StatusChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: LongText | None = None
