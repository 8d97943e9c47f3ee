"""Answers a real integration meets, as QuickBooks gives them, through python-quickbooks:
MAXRESULTS over the maximum, inactivating a customer that owes money, vendor and employee
fields, and entities or operations the emulator does not serve."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from quickbooks.exceptions import (
    QuickbooksException,
    SevereException,
    UnsupportedException,
    ValidationException,
)
from quickbooks.objects.base import Address, PhoneNumber
from quickbooks.objects.customer import Customer
from quickbooks.objects.employee import Employee
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.vendor import Vendor

from qbo_emulator.testing import EmulatorServer, RealmTokens
from tests.emulator.conftest import customer, sparse


def test_maxresults_over_1000_is_intuits_error_naming_the_maximum(qb: Any) -> None:
    customer("Max Results Co").save(qb=qb)
    with pytest.raises(ValidationException) as exc:
        Customer.where("", max_results=1001, qb=qb)
    assert exc.value.error_code == 4001
    assert "value 1001 is too large. Max allowed value is 1000" in exc.value.detail
    assert len(Customer.where("", max_results=1000, qb=qb)) == 1


def test_inactivating_a_customer_with_an_open_balance_is_refused(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    owing = customer("Owing Ltd", Balance=120.5).save(qb=qb)
    with pytest.raises(QuickbooksException) as exc:
        sparse(qb, {"Id": owing.Id, "SyncToken": owing.SyncToken, "Active": False})
    assert exc.value.message == "Delete List Has Balance Error"
    assert "non-zero balance" in exc.value.detail
    assert emulator.state(realm.realm_id)[owing.Id]["Active"] is True  # nothing changed
    settled = customer("Settled Ltd").save(qb=qb)
    assert sparse(qb, {"Id": settled.Id, "SyncToken": "0", "Active": False})["Active"] is False


def test_a_parent_whose_jobs_owe_money_cannot_be_inactivated(qb: Any) -> None:
    parent = customer("Parent Owing").save(qb=qb)
    child = customer("Child Owing", Balance=10, Job=True)
    child.ParentRef = parent.to_ref()
    child.save(qb=qb)
    with pytest.raises(QuickbooksException) as exc:
        sparse(qb, {"Id": parent.Id, "SyncToken": parent.SyncToken, "Active": False})
    assert exc.value.message == "Delete List Has Balance Error"


def address(line: str, city: str) -> Address:
    addr = Address()
    addr.Line1, addr.City, addr.CountrySubDivisionCode, addr.PostalCode = line, city, "CA", "94043"
    return addr


def test_vendor_addresses_account_number_and_tax_id_round_trip(qb: Any) -> None:
    vendor = Vendor()
    vendor.DisplayName = "Round Trip Supplies"
    vendor.BillAddr = address("1 Supply Way", "Mountain View")
    vendor.AcctNum = "ACC-42"
    vendor.TaxIdentifier = "99-1234567"
    vendor.PrimaryPhone = PhoneNumber()
    vendor.PrimaryPhone.FreeFormNumber = "555-0100"
    created = vendor.save(qb=qb)
    read = Vendor.get(created.Id, qb=qb)
    assert read.BillAddr.Line1 == "1 Supply Way" and read.BillAddr.City == "Mountain View"
    assert (read.AcctNum, read.TaxIdentifier) == ("ACC-42", "99-1234567")
    read.AcctNum = "ACC-43"
    updated = read.save(qb=qb)  # a full update echoes everything back
    again = Vendor.get(updated.Id, qb=qb)
    assert again.AcctNum == "ACC-43" and again.BillAddr.PostalCode == "94043"
    assert again.TaxIdentifier == "99-1234567"


def test_employee_primary_address_and_number_round_trip(qb: Any) -> None:
    employee = Employee()
    employee.GivenName, employee.FamilyName = "Ada", "Round"
    employee.PrimaryAddr = address("2 Staff Road", "Palo Alto")
    employee.EmployeeNumber = "E-7"
    created = employee.save(qb=qb)
    read = Employee.get(created.Id, qb=qb)
    assert read.DisplayName == "Ada Round"
    assert read.PrimaryAddr.Line1 == "2 Staff Road" and read.EmployeeNumber == "E-7"
    read.FamilyName = "Rounder"
    read.save(qb=qb)
    assert Employee.get(created.Id, qb=qb).PrimaryAddr.City == "Palo Alto"


def test_an_entity_that_is_not_served_answers_intuits_faults(qb: Any) -> None:
    with pytest.raises(SevereException) as read:
        Invoice.get(1, qb=qb)
    assert read.value.error_code == 10000
    assert "Could not find resource for relative : /v3/company/" in read.value.detail
    with pytest.raises(UnsupportedException) as write:
        Invoice().save(qb=qb)
    assert write.value.error_code == 500 and write.value.message == "Unsupported Operation"
    assert "is not supported" in write.value.detail


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "customer"),  # method not allowed on a served path
        ("PUT", "customer/1"),
        ("GET", "customer"),
        ("PATCH", "query"),
        ("GET", "customer/1/notes/2"),  # no such path at all
    ],
)
def test_unserved_methods_and_paths_answer_a_fault_not_fastapis_detail(
    emulator: EmulatorServer, realm: RealmTokens, method: str, path: str
) -> None:
    reply = requests.request(
        method,
        f"{emulator.base_url}/v3/company/{realm.realm_id}/{path}?minorversion=75",
        headers={"Authorization": f"Bearer {realm.access_token}", "Accept": "application/json"},
        timeout=10,
    )
    body = json.loads(reply.text)
    assert "detail" not in body
    error = body["Fault"]["Error"][0]
    assert "Could not find resource for relative" in error["Detail"]
    assert error["code"] == ("10000" if method == "GET" else "500")
    assert reply.headers["intuit_tid"]
    assert "time" in body
