"""qbXML 13.0 element order for the requests the simulator answers (Intuit's qbxml130.xsd /
qbxmlops130.xsd). QuickBooks validates order: a child out of schema order is a parse error
(HRESULT 0x80040400), not a status."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from qbd_simulator.qbxml import parse_error

_PERSON = ("Salutation", "FirstName", "MiddleName", "LastName", "Suffix")
_COMM = ("Phone", "Mobile", "Pager", "AltPhone", "Fax", "Email", "Cc", "Contact", "AltContact")
_TAIL = (
    "CustomerTypeRef", "TermsRef", "SalesRepRef", "OpenBalance", "OpenBalanceDate",
    "SalesTaxCodeRef", "ItemSalesTaxRef", "SalesTaxCountry", "ResaleNumber", "AccountNumber",
    "CreditLimit", "PreferredPaymentMethodRef", "CreditCardInfo", "JobStatus", "JobStartDate",
    "JobProjectedEndDate", "JobEndDate", "JobDesc", "JobTypeRef", "Notes",
)  # fmt: skip

CUSTOMER_ADD = (
    ("Name", "IsActive", "ClassRef", "ParentRef", "CompanyName", *_PERSON, "JobTitle",
     "BillAddress", "ShipAddress", "ShipToAddress", "PrintAs", *_COMM, "AdditionalContactRef",
     "Contacts", *_TAIL, "AdditionalNotes", "IsStatementWithParent", "DeliveryMethod",
     "PreferredDeliveryMethod", "PriceLevelRef", "ExternalGUID", "TaxRegistrationNumber",
     "CurrencyRef")
)  # fmt: skip
CUSTOMER_MOD = tuple(
    ["ListID", "EditSequence"]
    + [t for t in CUSTOMER_ADD if t not in ("OpenBalance", "OpenBalanceDate", "ExternalGUID")]
)
CUSTOMER_MOD = tuple("ContactsMod" if t == "Contacts" else t for t in CUSTOMER_MOD)
CUSTOMER_MOD = tuple("AdditionalNotesMod" if t == "AdditionalNotes" else t for t in CUSTOMER_MOD)
REPEATABLE = {
    "ShipToAddress", "AdditionalContactRef", "Contacts", "ContactsMod", "AdditionalNotes",
    "AdditionalNotesMod", "ListID", "FullName", "IncludeRetElement", "OwnerID", "ListDelType",
}  # fmt: skip
ADDRESS = ("Addr1", "Addr2", "Addr3", "Addr4", "Addr5", "City", "State", "PostalCode", "Country",
           "Note")  # fmt: skip
LIST_FILTER = (
    "MaxReturned", "ActiveStatus", "FromModifiedDate", "ToModifiedDate", "NameFilter",
    "NameRangeFilter", "TotalBalanceFilter", "CurrencyFilter", "ClassFilter",
)  # fmt: skip
# CustomerQueryRq: a choice of ListID* | FullName* | the list filter, then these.
QUERY_TAIL = ("IncludeRetElement", "OwnerID")
LIST_DELETED_QUERY = ("ListDelType", "DeletedDateRangeFilter", "IncludeRetElement")
ACTIVE_STATUS = ("ActiveOnly", "InactiveOnly", "All")


def check_sequence(
    elem: ET.Element, order: tuple[str, ...], required: tuple[str, ...] = ()
) -> None:
    """Children must be known, in schema order, repeated only where the schema allows."""
    position = -1
    seen: set[str] = set()
    for child in elem:
        if child.tag not in order:
            raise parse_error(f'Element "{child.tag}" is not allowed in "{elem.tag}".')
        index = order.index(child.tag)
        if index < position or (index == position and child.tag not in REPEATABLE):
            raise parse_error(f'Element "{child.tag}" is out of order in "{elem.tag}".')
        position = index
        seen.add(child.tag)
    for tag in required:
        if tag not in seen:
            raise parse_error(f'Element "{tag}" is missing in "{elem.tag}".')


def check_customer_query(elem: ET.Element) -> str:
    """Which choice the query uses: "ListID", "FullName" or "filter"."""
    tags = [c.tag for c in elem]
    head = [t for t in tags if t not in QUERY_TAIL]
    kinds = {
        "ListID" if t == "ListID" else "FullName" if t == "FullName" else "filter" for t in head
    }
    if len(kinds) > 1:
        raise parse_error("CustomerQueryRq mixes ListID, FullName and filter elements.")
    kind = kinds.pop() if kinds else "filter"
    order = (kind,) if kind != "filter" else LIST_FILTER
    check_sequence(elem, (*order, *QUERY_TAIL))
    status = elem.findtext("ActiveStatus")
    if status is not None and status not in ACTIVE_STATUS:
        raise parse_error(f'"{status}" is not a valid ActiveStatus.')
    return kind
