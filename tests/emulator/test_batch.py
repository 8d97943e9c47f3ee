"""Batch (docs/reference/quickbooks-online.md#batch) through quickbooks.batch and
QuickBooks.batch_operation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from quickbooks.batch import batch_create, batch_update
from quickbooks.exceptions import QuickbooksException

from qbo_emulator.testing import EmulatorServer, RealmTokens
from tests.emulator.conftest import customer


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
