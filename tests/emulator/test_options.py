"""Configurable behaviours where QuickBooks' real answer is unverified
(docs/reference/quickbooks-online.md#open-questions)."""

from __future__ import annotations

from typing import Any

import pytest
from quickbooks.exceptions import QuickbooksException, ValidationException
from quickbooks.objects.base import EmailAddress
from quickbooks.objects.customer import Customer

from qbo_emulator.testing import EmulatorServer, RealmTokens, make_auth_client
from tests.emulator.conftest import customer, sparse


def test_exact_name_comparison_mode(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any
) -> None:
    configure(name_compare="exact")
    customer("Case Co").save(qb=qb)
    customer("case co").save(qb=qb)  # allowed in exact mode
    with pytest.raises(QuickbooksException) as exc:
        customer("Case Co").save(qb=qb)
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 6240


def test_inactive_names_can_be_released(qb: Any, configure: Any) -> None:
    configure(reserve_inactive_names=False)
    old = customer("Released Name").save(qb=qb)
    sparse(qb, {"Id": old.Id, "SyncToken": old.SyncToken, "Active": False})
    assert customer("Released Name").save(qb=qb).Id != old.Id


def test_deactivation_with_balance_refusal_can_be_turned_off(qb: Any, configure: Any) -> None:
    owing = customer("Owing Co", Balance=12.5).save(qb=qb)
    with pytest.raises(QuickbooksException) as exc:
        sparse(qb, {"Id": owing.Id, "SyncToken": owing.SyncToken, "Active": False})
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 6000
    configure(refuse_deactivate_with_balance=False)
    assert sparse(qb, {"Id": owing.Id, "SyncToken": "0", "Active": False})["Active"] is False


def test_maxresults_over_1000_can_be_clamped(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any
) -> None:
    emulator.seed(realm.realm_id, "customers", [{"DisplayName": f"Clamp {i}"} for i in range(3)])
    with pytest.raises(ValidationException) as exc:
        Customer.where("", max_results=1001, qb=qb)
    assert type(exc.value) is ValidationException and exc.value.error_code == 4001
    configure(max_results_over_limit="clamp")
    assert len(Customer.where("", max_results=1001, qb=qb)) == 3


def test_non_ascii_punctuation_check_can_be_disabled(qb: Any, configure: Any) -> None:
    configure(reject_non_ascii_punctuation=False)
    customer("O\u2019Brien Ltd").save(qb=qb)  # accepted on create in any mode
    assert [c.DisplayName for c in Customer.filter(DisplayName="O\u2019Brien Ltd", qb=qb)] == [
        "O\u2019Brien Ltd"
    ]


def test_requestid_retention_window(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any
) -> None:
    configure(requestid_ttl_seconds=60)
    first = customer("Retention A").save(qb=qb, request_id="kept-a-minute")
    configure(clock_offset_seconds=120)
    second = customer("Retention B").save(qb=qb, request_id="kept-a-minute")
    assert second.Id != first.Id


def test_refresh_grace_window(emulator: EmulatorServer, realm: RealmTokens, configure: Any) -> None:
    configure(refresh_grace_seconds=30)
    client = emulator.auth_client(realm)
    client.refresh()
    again = make_auth_client(emulator.base_url, refresh_token=realm.refresh_token)
    again.refresh()  # the rotated-out token still works inside the grace window


def test_invalid_email_is_refused(qb: Any) -> None:
    email = EmailAddress()
    email.Address = "not-an-email"
    with pytest.raises(QuickbooksException) as exc:
        customer("Mail Co", PrimaryEmailAddr=email).save(qb=qb)
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 6000


def test_display_name_or_name_part_required(qb: Any) -> None:
    with pytest.raises(ValidationException) as exc:
        customer(CompanyName="No Names Ltd").save(qb=qb)
    assert type(exc.value) is ValidationException and exc.value.error_code == 2020


def test_vendor_created_through_the_api_blocks_customer_name(qb: Any) -> None:
    from quickbooks.objects.vendor import Vendor

    vendor = Vendor()
    vendor.DisplayName = "API Vendor"
    vendor.save(qb=qb)
    with pytest.raises(QuickbooksException) as exc:
        customer("API Vendor").save(qb=qb)
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 6240
