"""Request and response bodies of the customer API."""

from __future__ import annotations

import types
import typing
import unicodedata
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, create_model

from customer_service.domain.customer import (
    ADDRESS_FIELDS,
    COMMAND_ONLY_FIELDS,
    EDITABLE_FIELDS,
    Customer,
)
from platform_events.contracts.customer import Address, CustomerSnapshot


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


class _EditableFields(BaseModel):
    """Every editable field. On create, unset fields take defaults; on update, only set ones apply."""

    model_config = ConfigDict(extra="forbid")

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


TrackingNumber = Annotated[
    str, AfterValidator(nfc), StringConstraints(strip_whitespace=True, min_length=1, max_length=40)
]
# Input rules where a field needs more than its kind's: the rest follow from the contract's type.
_INPUT_RULES: dict[str, Any] = {
    "parent_id": str,
    "tracking_number": TrackingNumber,
    # The tenant's currency list (ISO 4217 codes) decides which codes a customer may have.
    "currency": Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")],
    "email": Email,
    "phone": Phone,
    "mobile": Phone,
    "fax": Phone,
    "website": Website,
}
_RENAMED = {"discount_basis_points": ("discount_percent", Percent)}


def _input_rule(annotation: Any) -> Any:
    """What a client may send for a field of the contract's type (without its None)."""
    optional = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    [kind] = (
        [a for a in typing.get_args(annotation) if a is not type(None)]
        if optional
        else [annotation]
    )
    if typing.get_origin(kind) is Literal or kind is bool:
        return kind
    if kind is Address:
        return AddressIn
    if kind is int:
        return MinorUnits
    if kind is str:
        return Text
    raise TypeError(f"no input rule for {annotation!r}: add one to _INPUT_RULES")


def _editable_input_fields() -> dict[str, Any]:
    """Each editable field of the contract, optional, with its input rule."""
    fields: dict[str, Any] = {}
    for name in EDITABLE_FIELDS:
        annotation = CustomerSnapshot.model_fields[name].annotation
        input_name, rule = _RENAMED.get(name, (name, _INPUT_RULES.get(name)))
        fields[input_name] = ((rule or _input_rule(annotation)) | None, None)
    return fields


# The fields derive from the events contract's snapshot (one definition of a customer's fields);
# mypy cannot follow a base built at run time, hence the ignore.
_FieldsIn = create_model("CustomerFieldsIn", __base__=_EditableFields, **_editable_input_fields())


class CustomerFieldsIn(_FieldsIn):  # type: ignore[misc,valid-type]
    pass


class CustomerCreateIn(CustomerFieldsIn):
    company_name: Text
    contact_name: Text


class CustomerPatchIn(CustomerFieldsIn):
    pass


def _customer_out_fields() -> dict[str, Any]:
    """The domain record's fields as stored (the discount in percent), all required, and flags."""
    hints = typing.get_type_hints(Customer)
    fields: dict[str, Any] = {}
    for name in (*COMMAND_ONLY_FIELDS, *EDITABLE_FIELDS):
        if name == "discount_basis_points":
            fields["discount_percent"] = (Decimal, ...)
        elif name in ADDRESS_FIELDS:
            fields[name] = (dict[str, Any] | None, ...)  # the lines given, as given
        else:
            fields[name] = (hints[name], ...)
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
        for name in ADDRESS_FIELDS:
            if values[name] is not None:
                values[name] = values[name].model_dump(exclude_unset=True)
        return cls.model_validate({**values, **flags})


class StatusChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: LongText | None = None
