"""Field rules from Intuit's Customer reference: writable sets, length limits, name characters."""

from __future__ import annotations

from typing import Any

from qbo_emulator import faults

NAME_FIELDS = (
    "DisplayName",
    "Title",
    "GivenName",
    "MiddleName",
    "FamilyName",
    "Suffix",
    "PrintOnCheckName",
)
NAME_PARTS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
FORBIDDEN_NAME_CHARS = (":", "\t", "\n", "\r")

LIMITS = {
    "DisplayName": 500,
    "Title": 16,
    "Suffix": 16,
    "GivenName": 100,
    "MiddleName": 100,
    "FamilyName": 100,
    "CompanyName": 100,
    "PrintOnCheckName": 110,
    "Notes": 2000,
    "ResaleNum": 16,
}
PHONE_FIELDS = ("PrimaryPhone", "AlternatePhone", "Mobile", "Fax")
PHONE_LIMIT = 30
WEB_LIMIT = 1000

COMMON_WRITABLE = frozenset(
    {
        *NAME_FIELDS,
        "CompanyName",
        "Active",
        "PrimaryPhone",
        "AlternatePhone",
        "Mobile",
        "Fax",
        "PrimaryEmailAddr",
        "WebAddr",
    }
)
CUSTOMER_WRITABLE = COMMON_WRITABLE | {
    "Notes",
    "BillAddr",
    "ShipAddr",
    "Job",
    "ParentRef",
    "BillWithParent",
    "Taxable",
    "DefaultTaxCodeRef",
    "SalesTermRef",
    "PaymentMethodRef",
    "PreferredDeliveryMethod",
    "ResaleNum",
    "PrimaryTaxIdentifier",
    "ARAccountRef",
    "TaxExemptionReasonId",
    "CustomerTypeRef",
    "OtherContactInfo",
}
# Vendor and Employee reference pages: the same names are shared across the three lists, so
# their addresses, account numbers and tax ids must survive a write like a customer's do.
VENDOR_WRITABLE = COMMON_WRITABLE | {
    "BillAddr",
    "OtherContactInfo",
    "TaxIdentifier",
    "AcctNum",
    "Vendor1099",
    "TermRef",
    "APAccountRef",
    "BillRate",
    "CostRate",
    "TaxReportingBasis",
    "GSTIN",
    "GSTRegistrationType",
    "BusinessNumber",
    "T4AEligible",
    "T5018Eligible",
    "HasTPAR",
    "VendorPaymentBankDetail",
}
EMPLOYEE_WRITABLE = COMMON_WRITABLE | {
    "PrimaryAddr",
    "EmployeeNumber",
    "SSN",
    "BillableTime",
    "BillRate",
    "CostRate",
    "BirthDate",
    "Gender",
    "HiredDate",
    "ReleasedDate",
    "Organization",
}
# Accepted on create only; kept from the stored record afterwards.
WRITE_ON_CREATE = ("CurrencyRef", "Balance", "OpenBalanceDate")
# Never removable by a sparse update (Customer reference).
SPARSE_KEEP = ("DisplayName", "PrintOnCheckName")


WRITABLE = {"Customer": CUSTOMER_WRITABLE, "Vendor": VENDOR_WRITABLE, "Employee": EMPLOYEE_WRITABLE}


def writable(kind: str) -> frozenset[str]:
    return WRITABLE[kind]


def clean(value: Any) -> Any:
    """python-quickbooks sends `""` for unset strings: treat empty values as absent."""
    if isinstance(value, dict):
        cleaned = {k: c for k, v in value.items() if (c := clean(v)) is not None}
        return cleaned or None
    if value == "" or value is None:
        return None
    return value


def derived_display_name(record: dict[str, Any]) -> str | None:
    parts = [str(record[p]) for p in NAME_PARTS if record.get(p)]
    return " ".join(parts) or None


def validate(record: dict[str, Any]) -> None:
    for name, limit in LIMITS.items():
        value = record.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise faults.length_error(name, limit, len(value))
    for name in PHONE_FIELDS:
        number = (record.get(name) or {}).get("FreeFormNumber")
        if isinstance(number, str) and len(number) > PHONE_LIMIT:
            raise faults.length_error(f"{name}.FreeFormNumber", PHONE_LIMIT, len(number))
    uri = (record.get("WebAddr") or {}).get("URI")
    if isinstance(uri, str) and len(uri) > WEB_LIMIT:
        raise faults.length_error("WebAddr.URI", WEB_LIMIT, len(uri))
    for name in NAME_FIELDS:
        value = record.get(name)
        if isinstance(value, str) and any(ch in value for ch in FORBIDDEN_NAME_CHARS):
            raise faults.business(
                f"{name} can't contain a colon (:), a tab or a new line.", element=name
            )
    email = (record.get("PrimaryEmailAddr") or {}).get("Address")
    if isinstance(email, str) and ("@" not in email or "." not in email):
        raise faults.business("Invalid email address format.", element="PrimaryEmailAddr")
