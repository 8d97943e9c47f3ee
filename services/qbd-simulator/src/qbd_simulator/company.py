"""A simulated QuickBooks Desktop company file answering qbXML message sets for customers and jobs.

`process(qbxml)` is what QuickBooks' request processor does for the Web Connector: it returns the
response message set, or raises `QbXmlError` (an HRESULT) when the request cannot be parsed.
Every behaviour is listed with its public source in this package's README.
"""

from __future__ import annotations

import copy
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from qbd_simulator import status as st
from qbd_simulator.host import hcp_response
from qbd_simulator.iterators import Iterators
from qbd_simulator.qbxml import QbXmlError, parse_error, parse_message_set, render_response
from qbd_simulator.schema import (
    ADDRESS,
    CUSTOMER_ADD,
    CUSTOMER_MOD,
    LIST_DELETED_QUERY,
    check_customer_query,
    check_sequence,
)

# Company files keep local time; the simulated one is in US Pacific standard time.
COMPANY_TZ = timezone(timedelta(hours=-8))
OTHER_LISTS = ("Vendor", "Employee", "OtherName")
_STRUCTURAL = {"Name", "IsActive", "ParentRef", "OpenBalance", "OpenBalanceDate", "ListID",
               "EditSequence"}  # fmt: skip
_RET_ORDER = (
    "ClassRef", "ParentRef", "Sublevel", "CompanyName", "Salutation", "FirstName", "MiddleName",
    "LastName", "Suffix", "JobTitle", "BillAddress", "BillAddressBlock", "ShipAddress",
    "ShipAddressBlock", "ShipToAddress", "PrintAs", "Phone", "Mobile", "Pager", "AltPhone", "Fax",
    "Email", "Cc", "Contact", "AltContact", "AdditionalContactRef", "Contacts", "CustomerTypeRef",
    "TermsRef", "SalesRepRef", "Balance", "TotalBalance", "SalesTaxCodeRef", "ItemSalesTaxRef",
    "SalesTaxCountry", "ResaleNumber", "AccountNumber", "CreditLimit",
    "PreferredPaymentMethodRef", "CreditCardInfo", "JobStatus", "JobStartDate",
    "JobProjectedEndDate", "JobEndDate", "JobDesc", "JobTypeRef", "Notes", "AdditionalNotes",
    "IsStatementWithParent", "DeliveryMethod", "PreferredDeliveryMethod", "PriceLevelRef",
    "ExternalGUID", "TaxRegistrationNumber", "CurrencyRef",
)  # fmt: skip


@dataclass
class Customer:
    list_id: str
    name: str
    parent_id: str | None
    is_active: bool
    time_created: datetime
    time_modified: datetime
    edit_sequence: str
    balance: Decimal = Decimal("0.00")
    # Every other element as sent (text or nested), by tag; omitted on a Mod = unchanged.
    elements: dict[str, list[ET.Element]] = field(default_factory=dict)

    def text(self, tag: str) -> str | None:
        found = self.elements.get(tag)
        return found[0].text if found else None


class CompanyFile:
    """Switches for what is not verified on a real file: `case_sensitive_names` (False) and
    `job_names_unique_under_parent` (True). `non_latin1`: "mangle" stores `?` as QuickBooks does,
    "reject" fails the parse. Fault knobs: `locked` (3170 on writes), `permission_denied` (3260 on
    writes), `raise_next` (the next message set raises this HRESULT instead of answering)."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        case_sensitive_names: bool = False,
        job_names_unique_under_parent: bool = True,
        non_latin1: str = "mangle",
        iterator_ttl: timedelta | None = None,
        request_delay: float = 0.0,
        company_name: str = "Simulated Company",
        path: str = r"C:\Users\Public\Documents\Intuit\QuickBooks\Simulated Company.qbw",
    ) -> None:
        self.company_name, self.path = company_name, path
        self._clock = clock or (lambda: datetime.now(COMPANY_TZ))
        self.case_sensitive_names = case_sensitive_names
        self.job_names_unique_under_parent = job_names_unique_under_parent
        self.non_latin1 = non_latin1
        self.request_delay = request_delay
        self.customers: dict[str, Customer] = {}
        self.other_names: dict[str, set[str]] = {kind: set() for kind in OTHER_LISTS}
        self.deleted: list[dict[str, str]] = []
        self.data_ext: dict[tuple[str, str], str] = {}  # (OwnerID, name) -> value
        self.iterators = Iterators(iterator_ttl)
        self.locked = False
        self.permission_denied = False
        self.raise_next: QbXmlError | None = None
        self.message_sets = 0
        self._next_id = 0
        self._last_sequence = 0
        self._lock = threading.RLock()

    # ----- what the Web Connector does around the requests -----
    def end_session(self) -> None:
        """The Web Connector's EndSession: iterators do not outlive it."""
        with self._lock:
            self.iterators.clear()

    def open_for(self, owner_id: str, file_id: str) -> None:
        """First contact of an application: the Web Connector stores the .qwc's FileID as a
        DataExt named "FileID" under its OwnerID (an existing one is kept, so a .qwc made for
        another file shows up as a mismatch)."""
        with self._lock:
            self.data_ext.setdefault((owner_id, "FileID"), file_id)

    def hcp_response(self) -> str:
        with self._lock:
            return hcp_response(self.company_name, self.data_ext)

    def process(self, qbxml: str) -> str:
        if self.request_delay:
            time.sleep(self.request_delay)
        with self._lock:
            self.message_sets += 1
            if self.raise_next is not None:
                error, self.raise_next = self.raise_next, None
                raise error
            message_set = parse_message_set(self._charset(qbxml))
            handlers = {
                "CustomerAddRq": self._customer_add,
                "CustomerModRq": self._customer_mod,
                "CustomerQueryRq": self._customer_query,
                "ListDeletedQueryRq": self._list_deleted_query,
            }
            for request in message_set.requests:  # the whole set is validated before any runs
                if request.tag not in handlers:
                    raise parse_error(f'Request "{request.tag}" is not supported.')
                _validate(request)
            responses: list[ET.Element] = []
            for request in message_set.requests:
                response, outcome = handlers[request.tag](request)
                _set_status(response, outcome, request.get("requestID"))
                responses.append(response)
                if outcome.is_error and message_set.on_error == "stopOnError":
                    break
            return render_response(responses)

    def _charset(self, text: str) -> str:
        if all(ord(c) < 256 for c in text):
            return text
        if self.non_latin1 == "reject":
            raise parse_error("Text outside ISO-8859-1.")
        return "".join(c if ord(c) < 256 else "?" for c in text)

    # ----- seeding and inspecting, as a user at the QuickBooks screen would -----
    def add_other_name(self, kind: str, name: str) -> None:
        with self._lock:
            self.other_names[kind].add(name)

    def seed_customer(self, name: str, parent: str | None = None, **fields: str) -> str:
        """Add a customer (or a job under `parent`, a FullName) through a CustomerAddRq."""
        add = ET.Element("CustomerAdd")
        ET.SubElement(add, "Name").text = name
        if parent:
            ET.SubElement(ET.SubElement(add, "ParentRef"), "FullName").text = parent
        for tag in CUSTOMER_ADD:
            if tag in fields:
                ET.SubElement(add, tag).text = fields[tag]
        request = ET.Element("CustomerAddRq")
        request.append(add)
        with self._lock:
            response, outcome = self._customer_add(request)
        if outcome.is_error:
            raise ValueError(outcome.message)
        return response.findtext("CustomerRet/ListID") or ""

    def edit_customer(self, list_id: str, **fields: str) -> None:
        """A user changes a customer at the QuickBooks screen (a CustomerModRq with its current
        EditSequence): its EditSequence moves on, so a Mod prepared before is stale (3200)."""
        with self._lock:
            mod = ET.Element("CustomerMod")
            ET.SubElement(mod, "ListID").text = list_id
            ET.SubElement(mod, "EditSequence").text = self.customers[list_id].edit_sequence
            for tag in CUSTOMER_MOD:
                if tag in fields:
                    ET.SubElement(mod, tag).text = fields[tag]
            request = ET.Element("CustomerModRq")
            request.append(mod)
            _, outcome = self._customer_mod(request)
        if outcome.is_error:
            raise ValueError(outcome.message)

    def customers_named(self, full_name: str) -> list[ET.Element]:
        """Every customer whose FullName is `full_name` (exactly), as a CustomerRet."""
        with self._lock:
            return [
                self._ret(c, set())
                for c in self.customers.values()
                if self._full_name(c) == full_name
            ]

    def delete_customer(self, list_id: str) -> None:
        with self._lock:
            customer = self.customers.pop(list_id)
            self.deleted.append(
                {
                    "ListDelType": "Customer",
                    "ListID": list_id,
                    "TimeCreated": _stamp(customer.time_created),
                    "TimeDeleted": _stamp(self._clock()),
                    "FullName": self._full_name(customer),
                }
            )

    def full_names(self) -> list[str]:
        with self._lock:
            return sorted(self._full_name(c) for c in self.customers.values())

    # ----- names -----
    def _full_name(self, customer: Customer) -> str:
        if customer.parent_id is None:
            return customer.name
        return f"{self._full_name(self.customers[customer.parent_id])}:{customer.name}"

    def _sublevel(self, customer: Customer) -> int:
        return (
            0
            if customer.parent_id is None
            else 1 + self._sublevel(self.customers[customer.parent_id])
        )

    def _fold(self, name: str) -> str:
        return name if self.case_sensitive_names else name.casefold()

    def _name_taken(self, name: str, parent_id: str | None, exclude: str | None) -> bool:
        """Names are unique across customers, vendors, employees and other names."""
        key = self._fold(name)
        if parent_id is None and any(
            key in {self._fold(n) for n in names} for names in self.other_names.values()
        ):
            return True
        for other in self.customers.values():
            if other.list_id == exclude or self._fold(other.name) != key:
                continue
            if not self.job_names_unique_under_parent or other.parent_id == parent_id:
                return True
        return False

    def _find_ref(self, ref: ET.Element) -> Customer | None:
        list_id, full_name = ref.findtext("ListID"), ref.findtext("FullName")
        if list_id is not None:
            return self.customers.get(list_id)
        for customer in self.customers.values():
            if full_name is not None and self._fold(self._full_name(customer)) == self._fold(
                full_name
            ):
                return customer
        return None

    def _by_full_name(self, full_name: str) -> Customer | None:
        ref = ET.Element("Ref")
        ET.SubElement(ref, "FullName").text = full_name
        return self._find_ref(ref)

    # ----- writes -----
    def _write_refused(self, list_id: str) -> st.Status | None:
        if self.permission_denied:
            return st.PERMISSION_DENIED
        if self.locked:
            return st.locked(list_id)
        return None

    def _now(self) -> datetime:
        return self._clock().replace(microsecond=0)

    def _new_sequence(self, now: datetime) -> str:
        self._last_sequence = max(self._last_sequence + 1, int(now.timestamp()))
        return str(self._last_sequence)

    def _customer_add(self, request: ET.Element) -> tuple[ET.Element, st.Status]:
        response = ET.Element("CustomerAddRs")
        add = request.find("CustomerAdd")
        assert add is not None  # validated
        name = add.findtext("Name") or ""
        parent: Customer | None = None
        parent_ref = add.find("ParentRef")
        if parent_ref is not None:
            parent = self._find_ref(parent_ref)
            if parent is None:
                return response, st.object_not_found(_ref_text(parent_ref))
        parent_id = parent.list_id if parent else None
        if self._name_taken(name, parent_id, None):
            return response, st.name_in_use(name)
        refused = self._write_refused(name)
        if refused:
            return response, refused
        now = self._now()
        self._next_id += 1
        customer = Customer(
            list_id=f"{0x80000000 + self._next_id:X}-{int(now.timestamp())}",
            name=name,
            parent_id=parent_id,
            is_active=add.findtext("IsActive", "true") == "true",
            time_created=now,
            time_modified=now,
            edit_sequence=self._new_sequence(now),
            balance=Decimal(add.findtext("OpenBalance") or "0").quantize(Decimal("0.01")),
        )
        _store_elements(customer, add)
        self.customers[customer.list_id] = customer
        response.append(self._ret(customer, _includes(request)))
        return response, st.OK

    def _customer_mod(self, request: ET.Element) -> tuple[ET.Element, st.Status]:
        response = ET.Element("CustomerModRs")
        mod = request.find("CustomerMod")
        assert mod is not None
        list_id, sequence = mod.findtext("ListID") or "", mod.findtext("EditSequence") or ""
        customer = self.customers.get(list_id)
        if customer is None:
            return response, st.object_not_found(list_id)
        if sequence != customer.edit_sequence:
            return response, st.stale_edit_sequence(sequence)
        name = mod.findtext("Name", customer.name)
        parent_id = customer.parent_id
        parent_ref = mod.find("ParentRef")
        if parent_ref is not None:
            parent = self._find_ref(parent_ref)
            if parent is None:
                return response, st.object_not_found(_ref_text(parent_ref))
            parent_id = parent.list_id
        if (name, parent_id) != (customer.name, customer.parent_id) and self._name_taken(
            name, parent_id, customer.list_id
        ):
            return response, st.name_in_use(name)
        refused = self._write_refused(list_id)
        if refused:
            return response, refused
        customer.name, customer.parent_id = name, parent_id
        if mod.find("IsActive") is not None:
            customer.is_active = mod.findtext("IsActive") == "true"
        _store_elements(customer, mod)
        now = self._now()
        customer.time_modified = now
        customer.edit_sequence = self._new_sequence(now)
        response.append(self._ret(customer, _includes(request)))
        return response, st.OK

    # ----- queries -----
    def _customer_query(self, request: ET.Element) -> tuple[ET.Element, st.Status]:
        response = ET.Element("CustomerQueryRs")
        includes = _includes(request)
        kind = check_customer_query(request)
        iterator = request.get("iterator")
        now = self._clock()
        if iterator in ("Continue", "Stop"):
            iterator_id = request.get("iteratorID") or ""
            if self.iterators.get(iterator_id, now) is None:
                return response, st.bad_iterator(iterator_id)
            if iterator == "Stop":
                self.iterators.stop(iterator_id)
                return response, st.OK
            return self._page(response, iterator_id, request, includes)
        if kind == "filter":
            matches = self._filter(request)
        else:
            matches, missing = [], []
            for value in [e.text or "" for e in request.findall(kind)]:
                found = self.customers.get(value) if kind == "ListID" else self._by_full_name(value)
                (matches.append(found) if found else missing.append(value))
            if missing:  # a named object that is not there: a warning, with what was found
                response.extend(self._ret(c, includes) for c in matches)
                return response, st.not_found(missing[0])
        ids = [c.list_id for c in matches]
        if iterator == "Start":
            return self._page(response, self.iterators.start(ids, now), request, includes)
        limit = request.findtext("MaxReturned")
        if limit is not None:
            ids = ids[: int(limit)]
        response.extend(self._ret(self.customers[i], includes) for i in ids)
        return response, st.OK if ids else st.NO_MATCH

    def _page(
        self, response: ET.Element, iterator_id: str, request: ET.Element, includes: set[str]
    ) -> tuple[ET.Element, st.Status]:
        limit = request.findtext("MaxReturned")
        page, remaining = self.iterators.take(iterator_id, int(limit) if limit else None)
        found = [self.customers[i] for i in page if i in self.customers]
        response.set("iteratorRemainingCount", str(remaining))
        response.set("iteratorID", iterator_id)
        response.extend(self._ret(c, includes) for c in found)
        return response, st.OK if found or remaining else st.NO_MATCH

    def _filter(self, request: ET.Element) -> list[Customer]:
        active = request.findtext("ActiveStatus", "ActiveOnly")  # the default hides inactive ones
        since = _parse_time(request.findtext("FromModifiedDate"))
        until = _parse_time(request.findtext("ToModifiedDate"))
        name_filter = request.find("NameFilter")
        for unsupported in (
            "NameRangeFilter",
            "TotalBalanceFilter",
            "CurrencyFilter",
            "ClassFilter",
        ):
            if request.find(unsupported) is not None:
                raise parse_error(f"The simulator does not implement {unsupported}.")
        found = []
        for customer in self.customers.values():
            if active == "ActiveOnly" and not customer.is_active:
                continue
            if active == "InactiveOnly" and customer.is_active:
                continue
            if since is not None and customer.time_modified < since:
                continue
            if until is not None and customer.time_modified > until:
                continue
            if name_filter is not None and not _name_matches(
                self._fold(self._full_name(customer)), name_filter, self._fold
            ):
                continue
            found.append(customer)
        return sorted(found, key=lambda c: self._fold(self._full_name(c)))

    def _list_deleted_query(self, request: ET.Element) -> tuple[ET.Element, st.Status]:
        response = ET.Element("ListDeletedQueryRs")
        kinds = {e.text for e in request.findall("ListDelType")}
        since = _parse_time(request.findtext("DeletedDateRangeFilter/FromDeletedDate"))
        until = _parse_time(request.findtext("DeletedDateRangeFilter/ToDeletedDate"))
        includes = _includes(request)
        for row in self.deleted:
            deleted_at = _parse_time(row["TimeDeleted"])
            assert deleted_at is not None
            if row["ListDelType"] not in kinds:
                continue
            if (since and deleted_at < since) or (until and deleted_at > until):
                continue
            ret = ET.SubElement(response, "ListDeletedRet")
            for tag in ("ListDelType", "ListID", "TimeCreated", "TimeDeleted", "FullName"):
                if not includes or tag in includes:
                    ET.SubElement(ret, tag).text = row[tag]
        return response, st.OK if len(response) else st.NO_MATCH

    # ----- rendering -----
    def _ret(self, customer: Customer, includes: set[str]) -> ET.Element:
        ret = ET.Element("CustomerRet")

        def put(tag: str, value: str) -> ET.Element | None:
            if includes and tag not in includes:
                return None
            element = ET.SubElement(ret, tag)
            element.text = value
            return element

        put("ListID", customer.list_id)
        put("TimeCreated", _stamp(customer.time_created))
        put("TimeModified", _stamp(customer.time_modified))
        put("EditSequence", customer.edit_sequence)
        put("Name", customer.name)
        put("FullName", self._full_name(customer))
        put("IsActive", "true" if customer.is_active else "false")
        for tag in _RET_ORDER:
            if includes and tag not in includes:
                continue
            if tag == "ParentRef" and customer.parent_id:
                parent = self.customers[customer.parent_id]
                ref = ET.SubElement(ret, "ParentRef")
                ET.SubElement(ref, "ListID").text = parent.list_id
                ET.SubElement(ref, "FullName").text = self._full_name(parent)
            elif tag == "Sublevel":
                put("Sublevel", str(self._sublevel(customer)))
            elif tag == "Balance":
                put("Balance", f"{customer.balance:.2f}")
            elif tag == "TotalBalance":
                put("TotalBalance", f"{self._total_balance(customer):.2f}")
            elif tag == "Contacts":
                for contact in customer.elements.get(tag, []):
                    contact_ret = copy.deepcopy(contact)
                    contact_ret.tag = "ContactsRet"
                    ret.append(contact_ret)
            else:
                ret.extend(copy.deepcopy(e) for e in customer.elements.get(tag, []))
        return ret

    def _total_balance(self, customer: Customer) -> Decimal:
        jobs = [c for c in self.customers.values() if c.parent_id == customer.list_id]
        return customer.balance + sum((self._total_balance(j) for j in jobs), Decimal("0.00"))


def _validate(request: ET.Element) -> None:
    if request.tag == "CustomerAddRq":
        check_sequence(request, ("CustomerAdd", "IncludeRetElement"), ("CustomerAdd",))
        body = request.find("CustomerAdd")
        assert body is not None
        check_sequence(body, CUSTOMER_ADD, ("Name",))
    elif request.tag == "CustomerModRq":
        check_sequence(request, ("CustomerMod", "IncludeRetElement"), ("CustomerMod",))
        body = request.find("CustomerMod")
        assert body is not None
        check_sequence(body, CUSTOMER_MOD, ("ListID", "EditSequence"))
    elif request.tag == "CustomerQueryRq":
        check_customer_query(request)
        return
    else:
        check_sequence(request, LIST_DELETED_QUERY, ("ListDelType",))
        return
    for address in ("BillAddress", "ShipAddress"):
        found = body.find(address)
        if found is not None:
            check_sequence(found, ADDRESS)
    ref = body.find("ParentRef")
    if ref is not None:
        check_sequence(ref, ("ListID", "FullName"))


def _store_elements(customer: Customer, body: ET.Element) -> None:
    for child in body:
        if child.tag in _STRUCTURAL:
            continue
        if child.tag in ("BillAddress", "ShipAddress") and customer.elements.get(child.tag):
            merged = _merge_address(customer.elements[child.tag][0], child)
            customer.elements[child.tag] = [merged] if len(merged) else []
            continue
        if len(child) == 0 and not (child.text or "").strip():
            customer.elements.pop(child.tag, None)  # an empty element clears the field
            continue
        same = [e for e in body if e.tag == child.tag]
        customer.elements[child.tag] = [copy.deepcopy(e) for e in same]


def _merge_address(old: ET.Element, new: ET.Element) -> ET.Element:
    values = {e.tag: e.text or "" for e in old}
    for e in new:
        values[e.tag] = e.text or ""
    merged = ET.Element(old.tag)
    for tag in ADDRESS:
        if values.get(tag):
            ET.SubElement(merged, tag).text = values[tag]
    return merged


def _name_matches(full_name: str, name_filter: ET.Element, fold: Callable[[str], str]) -> bool:
    criterion = name_filter.findtext("MatchCriterion", "StartsWith")
    wanted = fold(name_filter.findtext("Name", ""))
    if criterion == "StartsWith":
        return full_name.startswith(wanted)
    if criterion == "EndsWith":
        return full_name.endswith(wanted)
    return wanted in full_name


def _includes(request: ET.Element) -> set[str]:
    return {e.text or "" for e in request.findall("IncludeRetElement")}


def _ref_text(ref: ET.Element) -> str:
    return ref.findtext("ListID") or ref.findtext("FullName") or ""


def _set_status(response: ET.Element, outcome: st.Status, request_id: str | None) -> None:
    attributes = dict(response.attrib)
    response.attrib.clear()
    if request_id is not None:
        response.set("requestID", request_id)
    response.set("statusCode", str(outcome.code))
    response.set("statusSeverity", outcome.severity)
    response.set("statusMessage", outcome.message)
    for key in ("iteratorRemainingCount", "iteratorID"):
        if key in attributes:
            response.set(key, attributes[key])
    if "iteratorID" in attributes:
        response.set("retCount", str(len(response)))


def _stamp(moment: datetime) -> str:
    return moment.astimezone(COMPANY_TZ).isoformat(timespec="seconds")


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:  # qbXML dates without an offset are the company's local time
        parsed = parsed.replace(tzinfo=COMPANY_TZ)
    if len(value) == 10:  # a date alone covers the whole day from midnight
        parsed = parsed.replace(hour=0, minute=0, second=0)
    return parsed.astimezone(UTC)
