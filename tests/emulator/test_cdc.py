"""Change data capture (docs/reference/quickbooks-online.md#change-data-capture) through
quickbooks.cdc.change_data_capture."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.customer import Customer

from qbo_emulator.testing import EmulatorServer, RealmTokens
from tests.emulator.conftest import customer, sparse

COMPANY = timezone(timedelta(hours=-7))


def ago(**delta: float) -> str:
    return (datetime.now(COMPANY) - timedelta(**delta)).replace(microsecond=0).isoformat()


def test_cdc_returns_changed_customers_since(qb: Any) -> None:
    a = customer("CDC A").save(qb=qb)
    b = customer("CDC B").save(qb=qb)
    sparse(qb, {"Id": b.Id, "SyncToken": b.SyncToken, "Active": False})
    cdc = change_data_capture([Customer], ago(minutes=5), qb=qb)
    by_id = {c.Id: c for c in cdc.Customer}
    assert set(by_id) == {a.Id, b.Id}
    assert by_id[b.Id].Active is False and by_id[b.Id].SyncToken == "1"  # inactive ones included


def test_cdc_without_changes_has_no_entity_attribute(qb: Any) -> None:
    customer("CDC Quiet").save(qb=qb)
    future = (datetime.now(COMPANY) + timedelta(minutes=5)).replace(microsecond=0).isoformat()
    cdc = change_data_capture([Customer], future, qb=qb)
    assert getattr(cdc, "Customer", None) is None


def test_cdc_more_than_30_days_back_is_refused(qb: Any) -> None:
    with pytest.raises(QuickbooksException) as exc:
        change_data_capture([Customer], ago(days=31), qb=qb)
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 6000
    assert "older than fixed days is not supported" in exc.value.detail
    change_data_capture([Customer], ago(days=29), qb=qb)


def test_cdc_caps_at_the_oldest_objects(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any
) -> None:
    configure(cdc_max_objects=5)  # QBO: 1000; small here to keep the test fast
    emulator.seed(
        realm.realm_id,
        "customers",
        [
            {"DisplayName": f"Capped {i}", "MetaData": {"LastUpdatedTime": ago(hours=10 - i)}}
            for i in range(8)
        ],
    )
    cdc = change_data_capture([Customer], ago(days=1), qb=qb)
    assert [c.DisplayName for c in cdc.Customer] == [f"Capped {i}" for i in range(5)]


def test_cdc_default_cap_is_1000(emulator: EmulatorServer, realm: RealmTokens, qb: Any) -> None:
    emulator.seed(realm.realm_id, "customers", [{"DisplayName": f"Many {i}"} for i in range(1003)])
    cdc = change_data_capture([Customer], ago(minutes=5), qb=qb)
    assert len(cdc.Customer) == 1000


def test_merged_customer_appears_as_deleted_stub(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    loser = customer("Merge Loser").save(qb=qb)
    winner = customer("Merge Winner").save(qb=qb)
    emulator.merge(realm.realm_id, loser.Id, winner.Id)
    reply = qb.change_data_capture("Customer", ago(minutes=5))
    objects = reply["CDCResponse"][0]["QueryResponse"][0]["Customer"]
    stub = next(o for o in objects if o["Id"] == loser.Id)
    assert stub["status"] == "Deleted"
    assert next(o for o in objects if o["Id"] == winner.Id)["SyncToken"] == "1"
