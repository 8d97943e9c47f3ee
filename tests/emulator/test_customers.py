"""Customer create/read/update rules through python-quickbooks
(docs/reference/quickbooks-online.md#the-customer-api)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from quickbooks.exceptions import (
    ObjectNotFoundException,
    QuickbooksException,
    UnsupportedException,
    ValidationException,
)
from quickbooks.objects.base import PhoneNumber, Ref, WebAddress
from quickbooks.objects.customer import Customer

from qbo_emulator.testing import EmulatorServer, RealmTokens
from tests.emulator.conftest import customer, sparse

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def exactly(exc: pytest.ExceptionInfo[Any], cls: type, code: int) -> None:
    """python-quickbooks maps 5000-9999 to the base class: check the class itself, not a subclass."""
    assert type(exc.value) is cls, type(exc.value)
    assert exc.value.error_code == code, exc.value


def test_create_accepts_library_defaults_and_fills_computed_fields(qb: Any) -> None:
    created = customer("Ada Lovelace", CompanyName="Analytical Engines").save(qb=qb)
    assert created.Id.isdigit()
    assert created.SyncToken == "0"
    assert created.FullyQualifiedName == "Ada Lovelace"
    assert created.PrintOnCheckName == "Ada Lovelace"
    assert created.CurrencyRef.value == "USD"
    assert created.Active is True and created.Job is False
    raw = qb.get_single_object("Customer", created.Id)
    assert "time" in raw
    # Only properties with values: the library's "" defaults are not echoed back.
    assert "Notes" not in raw["Customer"] and "GivenName" not in raw["Customer"]


def test_display_name_derived_from_name_parts(qb: Any) -> None:
    created = customer(Title="Dr", GivenName="Grace", FamilyName="Hopper").save(qb=qb)
    assert created.DisplayName == "Dr Grace Hopper"


def test_read_unknown_id_is_610(qb: Any) -> None:
    with pytest.raises(ObjectNotFoundException) as exc:
        Customer.get(999999, qb=qb)
    exactly(exc, ObjectNotFoundException, 610)


def test_full_update_clears_omitted_writable_fields(qb: Any) -> None:
    created = customer("Full Update Co", Notes="keep me?", CompanyName="FU Ltd").save(qb=qb)
    replacement = customer("Full Update Co")
    replacement.Id, replacement.SyncToken = created.Id, created.SyncToken
    updated = replacement.save(qb=qb)
    assert updated.SyncToken == "1"
    fetched = qb.get_single_object("Customer", created.Id)["Customer"]
    assert "Notes" not in fetched and "CompanyName" not in fetched


def test_sparse_update_changes_only_sent_fields(qb: Any) -> None:
    created = customer("Sparse Co", Notes="n1", CompanyName="Sparse Ltd").save(qb=qb)
    updated = sparse(qb, {"Id": created.Id, "SyncToken": created.SyncToken, "Notes": "n2"})
    assert updated["Notes"] == "n2"
    assert updated["CompanyName"] == "Sparse Ltd"
    assert updated["DisplayName"] == "Sparse Co"
    assert updated["SyncToken"] == "1"


def test_synctoken_increments_and_stale_token_is_5010(qb: Any) -> None:
    original = customer("Token Co").save(qb=qb)
    first = original.save(qb=qb)
    second = first.save(qb=qb)
    assert (original.SyncToken, first.SyncToken, second.SyncToken) == ("0", "1", "2")
    with pytest.raises(QuickbooksException) as exc:
        original.save(qb=qb)  # the caller's old object keeps SyncToken 0
    exactly(exc, QuickbooksException, 5010)
    assert "Stale Object Error" in exc.value.message


def test_concurrent_edit_by_another_user_gives_5010(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    mine = customer("Race Co").save(qb=qb)
    emulator.other_user_edit(realm.realm_id, mine.Id, Notes="edited in QuickBooks")
    with pytest.raises(QuickbooksException) as exc:
        sparse(qb, {"Id": mine.Id, "SyncToken": mine.SyncToken, "Notes": "mine"})
    exactly(exc, QuickbooksException, 5010)


@pytest.mark.parametrize("kind", ["vendors", "employees", "customers"])
def test_duplicate_display_name_across_lists_is_6240(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, kind: str
) -> None:
    emulator.seed(realm.realm_id, kind, [{"DisplayName": "Shared Name"}])
    with pytest.raises(QuickbooksException) as exc:
        customer("  shared name ").save(qb=qb)  # trimmed, case-insensitive (emulator default)
    exactly(exc, QuickbooksException, 6240)
    assert exc.value.message == "Duplicate Name Exists Error"
    assert "Another customer, vendor or employee is already using this name" in exc.value.detail


def test_rename_onto_existing_name_is_6240(qb: Any) -> None:
    customer("Taken").save(qb=qb)
    other = customer("Free").save(qb=qb)
    with pytest.raises(QuickbooksException) as exc:
        sparse(qb, {"Id": other.Id, "SyncToken": other.SyncToken, "DisplayName": "Taken"})
    exactly(exc, QuickbooksException, 6240)


def test_inactive_customer_keeps_its_name_reserved(qb: Any) -> None:
    old = customer("Retired Name").save(qb=qb)
    sparse(qb, {"Id": old.Id, "SyncToken": old.SyncToken, "Active": False})
    assert Customer.filter(DisplayName="Retired Name", qb=qb) == []  # hidden from a plain query
    with pytest.raises(QuickbooksException) as exc:
        customer("Retired Name").save(qb=qb)
    exactly(exc, QuickbooksException, 6240)


@pytest.mark.parametrize("bad", ["Acme: East", "Acme\tEast", "Acme\nEast"])
def test_names_with_colon_tab_or_newline_are_refused(qb: Any, bad: str) -> None:
    with pytest.raises(QuickbooksException) as exc:
        customer(bad).save(qb=qb)
    exactly(exc, QuickbooksException, 6000)
    with pytest.raises(QuickbooksException) as exc:
        customer("Fine Name", GivenName=bad).save(qb=qb)
    exactly(exc, QuickbooksException, 6000)


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("DisplayName", 500),
        ("Title", 16),
        ("GivenName", 100),
        ("MiddleName", 100),
        ("FamilyName", 100),
        ("CompanyName", 100),
        ("PrintOnCheckName", 110),
        ("Notes", 2000),
        ("Suffix", 16),
        ("ResaleNum", 16),
    ],
)
def test_field_length_limits_are_2050(qb: Any, field: str, limit: int) -> None:
    base = {"DisplayName": f"Len {field}"}
    ok = customer(**{**base, field: "x" * limit})
    ok.save(qb=qb)
    too_long = customer(**{**base, "DisplayName": f"Len2 {field}", field: "y" * (limit + 1)})
    with pytest.raises(ValidationException) as exc:
        too_long.save(qb=qb)
    exactly(exc, ValidationException, 2050)
    assert exc.value.detail.endswith(f"Max:{limit} supported. Supplied length:{limit + 1}")


def phone(number: str) -> PhoneNumber:
    value = PhoneNumber()
    value.FreeFormNumber = number
    return value


def web(uri: str) -> WebAddress:
    value = WebAddress()
    value.URI = uri
    return value


@pytest.mark.parametrize(
    ("field", "limit", "wrap"),
    [
        ("PrimaryPhone", 30, phone),
        ("AlternatePhone", 30, phone),
        ("Mobile", 30, phone),
        ("Fax", 30, phone),
        ("WebAddr", 1000, web),
    ],
)
def test_nested_length_limits_are_2050(
    qb: Any, field: str, limit: int, wrap: Callable[[str], Any]
) -> None:
    customer(f"Len {field}", **{field: wrap("1" * limit)}).save(qb=qb)
    with pytest.raises(ValidationException) as exc:
        customer(f"Len2 {field}", **{field: wrap("1" * (limit + 1))}).save(qb=qb)
    exactly(exc, ValidationException, 2050)
    assert exc.value.detail.endswith(f"Max:{limit} supported. Supplied length:{limit + 1}")


def test_update_without_synctoken_is_2020(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    created = customer("No Token Co").save(qb=qb)
    with pytest.raises(ValidationException) as exc:
        sparse(qb, {"Id": created.Id, "Notes": "no SyncToken sent"})
    exactly(exc, ValidationException, 2020)
    assert "SyncToken" in exc.value.detail
    assert emulator.customers(realm.realm_id)[created.Id]["SyncToken"] == "0"  # nothing changed


def test_currency_ref_is_fixed_after_create(qb: Any) -> None:
    cad = Ref()
    cad.value = "CAD"
    created = customer("Maple Co", CurrencyRef=cad).save(qb=qb)
    assert created.CurrencyRef.value == "CAD"
    with pytest.raises(QuickbooksException) as exc:
        sparse(
            qb, {"Id": created.Id, "SyncToken": created.SyncToken, "CurrencyRef": {"value": "USD"}}
        )
    exactly(exc, QuickbooksException, 6000)
    # A full update that omits CurrencyRef keeps it (read-only, not cleared).
    again = customer("Maple Co")
    again.Id, again.SyncToken = created.Id, created.SyncToken
    assert again.save(qb=qb).CurrencyRef.value == "CAD"


def test_sub_customer_needs_job_true_with_parent_ref(qb: Any) -> None:
    parent = customer("Parent Co").save(qb=qb)
    with pytest.raises(QuickbooksException) as exc:
        customer("Orphan Job", ParentRef=parent.to_ref()).save(qb=qb)  # Job left False
    exactly(exc, QuickbooksException, 6150)
    assert exc.value.message == "ParentRef Required Error"
    with pytest.raises(QuickbooksException) as exc:
        customer("Job Without Parent", Job=True).save(qb=qb)
    exactly(exc, QuickbooksException, 6150)


def test_sub_customers_nest_five_levels_with_computed_names(qb: Any) -> None:
    chain = [customer("L0").save(qb=qb)]
    for level in range(1, 5):
        child = customer(f"L{level}", Job=True, ParentRef=chain[-1].to_ref()).save(qb=qb)
        assert child.Level == level
        chain.append(child)
    assert chain[-1].FullyQualifiedName == "L0:L1:L2:L3:L4"
    with pytest.raises(QuickbooksException) as exc:
        customer("L5", Job=True, ParentRef=chain[-1].to_ref()).save(qb=qb)
    exactly(exc, QuickbooksException, 6000)
    # Renaming a parent renames the children's FullyQualifiedName.
    sparse(qb, {"Id": chain[0].Id, "SyncToken": chain[0].SyncToken, "DisplayName": "Root"})
    assert Customer.get(chain[2].Id, qb=qb).FullyQualifiedName == "Root:L1:L2"


def test_no_delete_only_active_false(qb: Any) -> None:
    created = customer("Deletable?").save(qb=qb)
    with pytest.raises(UnsupportedException) as exc:
        qb.delete_object("Customer", created.to_json())
    exactly(exc, UnsupportedException, 500)
    inactive = sparse(qb, {"Id": created.Id, "SyncToken": created.SyncToken, "Active": False})
    assert inactive["Active"] is False
    assert Customer.get(created.Id, qb=qb).Active is False  # still readable by Id
    assert [c.Id for c in Customer.filter(Active=False, qb=qb)] == [created.Id]
    assert created.Id not in [c.Id for c in Customer.all(qb=qb)]


def test_metadata_times_carry_offset_and_seconds(
    emulator: EmulatorServer, qb: Any, configure: Any
) -> None:
    created = customer("Clock Co").save(qb=qb)
    assert STAMP.match(created.MetaData["CreateTime"]), created.MetaData
    assert created.MetaData["CreateTime"].endswith("-07:00")  # company time, not UTC
    configure(clock_offset_seconds=61)
    updated = created.save(qb=qb)
    assert updated.MetaData["CreateTime"] == created.MetaData["CreateTime"]
    assert updated.MetaData["LastUpdatedTime"] > created.MetaData["LastUpdatedTime"]


def test_sparse_update_with_a_fresh_library_object_is_a_trap(qb: Any) -> None:
    """A fresh Customer() sends "" defaults and Active=true, even with sparse (the sparse-update
    trap in docs/reference/quickbooks-online.md#the-customer-object-and-sparse-updates)."""
    created = customer("Trap Co", Notes="important").save(qb=qb)
    gone = sparse(qb, {"Id": created.Id, "SyncToken": created.SyncToken, "Active": False})
    fresh = customer()
    fresh.Id, fresh.SyncToken, fresh.sparse = created.Id, gone["SyncToken"], True
    result = fresh.save(qb=qb)
    assert result.Active is True  # re-activated
    assert result.DisplayName == "Trap Co"  # DisplayName cannot be removed by sparse
    assert getattr(result, "Notes", "") == ""  # blanked
