"""Batch (docs/reference/quickbooks-online.md#batch) through quickbooks.batch and
QuickBooks.batch_operation."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from quickbooks.batch import batch_create, batch_update
from quickbooks.exceptions import QuickbooksException, ValidationException

from qbo_emulator.testing import EmulatorServer, RealmTokens
from tests.emulator.conftest import customer
from tests.emulator.test_requestid import batch_post


def test_batch_items_are_independent_with_per_item_faults(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    emulator.seed_employee(realm.realm_id, "Staff Member")
    result = batch_create(
        [customer("Batch One"), customer("Staff Member"), customer("Batch Two")], qb=qb
    )
    assert sorted(c.DisplayName for c in result.successes) == ["Batch One", "Batch Two"]
    assert len(result.faults) == 1
    assert result.faults[0].Error[0].code == "6240"


def test_batch_update_reports_stale_items(qb: Any) -> None:
    a = customer("Batch Upd A").save(qb=qb)
    b = customer("Batch Upd B").save(qb=qb)
    a_new = a.save(qb=qb)  # moves A's SyncToken on; `a` is stale now
    result = batch_update([a, b], qb=qb)
    assert [c.DisplayName for c in result.successes] == ["Batch Upd B"]
    assert result.faults[0].Error[0].code == "5010"
    assert a_new.SyncToken == "1"


def test_batch_with_more_than_30_items_is_refused(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    items = [
        {"bId": f"b{i}", "operation": "create", "Customer": {"DisplayName": f"Big {i}"}}
        for i in range(31)
    ]
    with pytest.raises(QuickbooksException) as exc:
        qb.batch_operation(json.dumps({"BatchItemRequest": items}))
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 6000
    assert emulator.customers(realm.realm_id) == {}
    reply = qb.batch_operation(json.dumps({"BatchItemRequest": items[:30]}))
    assert len(reply["BatchItemResponse"]) == 30


def test_batch_query_and_delete_items(qb: Any) -> None:
    customer("Batch Query Me").save(qb=qb)
    body = {
        "BatchItemRequest": [
            {"bId": "q1", "Query": "SELECT * FROM Customer WHERE DisplayName = 'Batch Query Me'"},
            {"bId": "d1", "operation": "delete", "Customer": {"Id": "1", "SyncToken": "0"}},
            {"bId": "q2", "Query": "SELECT * FROM Customer WHERE"},
        ]
    }
    items = {i["bId"]: i for i in qb.batch_operation(json.dumps(body))["BatchItemResponse"]}
    assert items["q1"]["QueryResponse"]["Customer"][0]["DisplayName"] == "Batch Query Me"
    assert items["d1"]["Fault"]["Error"][0]["code"] == "500"
    assert items["q2"]["Fault"]["Error"][0]["code"] == "4000"


def test_item_faults_come_back_per_item_as_intuit_answers_them(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    emulator.seed_vendor(realm.realm_id, "Taken By A Vendor")
    stale = customer("Stale In Batch").save(qb=qb)
    stale.save(qb=qb)  # SyncToken moves on; `stale` still holds "0"
    body = {
        "BatchItemRequest": [
            {"bId": "ok", "operation": "create", "Customer": {"DisplayName": "Fresh Batch"}},
            {"bId": "dup", "operation": "create", "Customer": {"DisplayName": "Taken By A Vendor"}},
            {
                "bId": "stale",
                "operation": "update",
                "Customer": {"Id": stale.Id, "SyncToken": "0", "sparse": True, "Notes": "x"},
            },
            {"bId": "long", "operation": "create", "Customer": {"DisplayName": "L" * 501}},
        ]
    }
    items = {i["bId"]: i for i in qb.batch_operation(json.dumps(body))["BatchItemResponse"]}
    assert items["ok"]["Customer"]["Id"]
    for bid, code in (("dup", "6240"), ("stale", "5010"), ("long", "2050")):
        fault = items[bid]["Fault"]
        assert fault["type"] == "ValidationFault" and fault["Error"][0]["code"] == code
    assert items["dup"]["Fault"]["Error"][0]["Message"] == "Duplicate Name Exists Error"
    names = {c["DisplayName"] for c in emulator.customers(realm.realm_id).values()}
    assert names == {"Stale In Batch", "Fresh Batch"}


def test_the_item_limit_is_configurable(qb: Any, configure: Any) -> None:
    configure(batch_max_items=5)
    with pytest.raises(QuickbooksException) as exc:
        batch_create([customer(f"Five Max {i}") for i in range(6)], qb=qb)  # one request of 30
    assert exc.value.error_code == 6000


def test_batch_requests_over_40_a_minute_are_throttled(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    emulator.set_limits(realm.realm_id, batch_per_minute=2)
    batch_create([customer("Rate One")], qb=qb)
    batch_create([customer("Rate Two")], qb=qb)
    with pytest.raises(QuickbooksException) as exc:
        batch_create([customer("Rate Three")], qb=qb)
    assert exc.value.error_code == 10000 and "ThrottleExceeded" in exc.value.message
    assert emulator.throttled_count(realm.realm_id, "batch_per_minute") == 1
    assert len(emulator.customers(realm.realm_id)) == 2  # the throttled batch did nothing
    customer("Single Still Fine").save(qb=qb)  # single calls have their own limit


def test_a_batch_counts_once_toward_the_per_minute_limit(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    emulator.set_limits(realm.realm_id, per_minute=3)
    result = batch_create([customer(f"Counted Once {i}") for i in range(30)], qb=qb)
    assert len(result.successes) == 30
    customer("After Batch 1").save(qb=qb)
    customer("After Batch 2").save(qb=qb)
    with pytest.raises(QuickbooksException):
        customer("After Batch 3").save(qb=qb)
    assert emulator.throttled_count(realm.realm_id, "per_minute") == 1


def test_batches_can_be_charged_per_item(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any
) -> None:
    configure(batch_counts_items=True)
    emulator.set_limits(realm.realm_id, per_minute=6)
    batch_create([customer(f"Per Item {i}") for i in range(5)], qb=qb)
    customer("Sixth Call").save(qb=qb)
    with pytest.raises(QuickbooksException):
        customer("Seventh Call").save(qb=qb)


def test_a_lost_batch_answer_was_applied_and_one_bulk_find_shows_it(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    names = [f"Lost Batch {i}" for i in range(12)] + ["O'Lost Batch"]
    emulator.add_fault("drop_after_commit", realm=realm.realm_id, path="^/batch")
    with pytest.raises(requests.exceptions.RequestException):
        batch_create([customer(n) for n in names], qb=qb)
    # Before anything is sent again: one query for all names finds every item applied.
    quoted = ", ".join("'" + n.replace("'", "\\'") + "'" for n in names)
    found = qb.query(
        f"SELECT * FROM Customer WHERE DisplayName IN ({quoted}) "
        "AND Active IN (true, false) MAXRESULTS 1000"
    )["QueryResponse"]["Customer"]
    assert sorted(c["DisplayName"] for c in found) == sorted(names)
    # A blind re-send would only collide (6240), never duplicate.
    again = batch_create([customer(n) for n in names], qb=qb)
    assert not again.successes and {f.Error[0].code for f in again.faults} == {"6240"}
    assert len(emulator.customers(realm.realm_id)) == len(names)


def test_bulk_find_as_a_batch_query_item(qb: Any) -> None:
    batch_create([customer(f"Batch Find {i}") for i in range(3)], qb=qb)
    names = ", ".join(f"'Batch Find {i}'" for i in range(5))
    body = {
        "BatchItemRequest": [
            {"bId": "f", "Query": f"SELECT * FROM Customer WHERE DisplayName IN ({names})"}
        ]
    }
    reply = qb.batch_operation(json.dumps(body))["BatchItemResponse"][0]
    assert len(reply["QueryResponse"]["Customer"]) == 3


def test_an_over_large_batch_body_is_413_and_nothing_is_applied(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any
) -> None:
    configure(max_body_bytes=20_000)
    big = [customer(f"Big Body {i}", Notes="n" * 1500) for i in range(30)]
    with pytest.raises(QuickbooksException) as exc:
        batch_create(big, qb=qb)
    assert exc.value.error_code == 10000 and "413" in exc.value.message
    # Intuit's front end answers its web server's page, naming the resource (ruby#361).
    assert "exceeds the capacity limit" in exc.value.message
    assert f"/v3/company/{realm.realm_id}/batch" in exc.value.message
    assert emulator.customers(realm.realm_id) == {}
    assert emulator.requests()[-1]["status"] == 413


def test_a_query_longer_than_the_limit_is_refused_when_one_is_set(qb: Any, configure: Any) -> None:
    configure(max_query_length=200)
    names = ", ".join(f"'Name Number {i}'" for i in range(20))
    with pytest.raises(ValidationException) as exc:
        qb.query(f"SELECT * FROM Customer WHERE DisplayName IN ({names})")
    assert exc.value.error_code == 4000
    qb.query("SELECT * FROM Customer WHERE DisplayName IN ('Short')")


def test_a_lost_batch_answer_is_replayed_for_the_same_batch_requestid(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    items = [
        {"bId": f"c{i}", "operation": "create", "Customer": {"DisplayName": f"Replayed {i}"}}
        for i in range(5)
    ]
    emulator.add_fault("drop_after_commit", realm=realm.realm_id, path="^/batch")
    with pytest.raises(requests.exceptions.RequestException):
        batch_post(qb, items, "push-batch-0001")
    replay = batch_post(qb, items, "push-batch-0001")  # the same batch, the same requestid
    created = {r["bId"]: r["Customer"]["Id"] for r in replay["BatchItemResponse"]}
    assert sorted(created) == [f"c{i}" for i in range(5)]
    assert sorted(emulator.customers(realm.realm_id)) == sorted(created.values())


def test_an_injected_validation_fault_fails_only_its_batch_item(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    emulator.add_fault(
        "refuse_write", realm=realm.realm_id, name="^Refused ", detail="Invalid email", times=None
    )
    result = batch_create(
        [customer("Refused One"), customer("Accepted One"), customer("Refused Two")], qb=qb
    )
    assert [c.DisplayName for c in result.successes] == ["Accepted One"]
    assert [(f.Error[0].code, f.Error[0].Detail) for f in result.faults] == [
        ("6000", "Business Validation Error: Invalid email")
    ] * 2
    assert [c["DisplayName"] for c in emulator.customers(realm.realm_id).values()] == [
        "Accepted One"
    ]
    emulator.clear_faults()
