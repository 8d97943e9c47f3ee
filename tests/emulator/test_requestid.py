"""`requestid` replay: a repeated id returns the first answer, per realm
(docs/reference/quickbooks-online.md#idempotency-requestid)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from quickbooks.exceptions import QuickbooksException

from qbo_emulator.testing import EmulatorServer, RealmTokens
from tests.emulator.conftest import customer, sparse


def test_repeated_requestid_returns_first_response_and_changes_nothing(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    before = emulator.state()["counters"]
    first = customer("Replay Co").save(qb=qb, request_id="create-replay-co")
    # Same id, different body: still the first answer, no second customer, no rename.
    second = customer("Replay Co Renamed").save(qb=qb, request_id="create-replay-co")
    assert second.Id == first.Id and second.DisplayName == "Replay Co"
    names = [c["DisplayName"] for c in emulator.customers(realm.realm_id).values()]
    assert names == ["Replay Co"]
    after = emulator.state()["counters"]
    assert after.get("replays", 0) - before.get("replays", 0) == 1
    assert after.get("requestid_body_mismatch", 0) - before.get("requestid_body_mismatch", 0) == 1


def test_replayed_update_does_not_bump_synctoken(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    created = customer("Replay Update").save(qb=qb)
    change = {"Id": created.Id, "SyncToken": created.SyncToken, "Notes": "once"}
    first = sparse(qb, change, request_id="upd-1")
    again = sparse(qb, change, request_id="upd-1")  # would be 5010 if it ran again
    assert first == again and first["SyncToken"] == "1"
    assert emulator.customers(realm.realm_id)[created.Id]["SyncToken"] == "1"


def test_replayed_fault_is_replayed_too(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    emulator.seed_vendor(realm.realm_id, "Fault Once")
    with pytest.raises(QuickbooksException) as first:
        customer("Fault Once").save(qb=qb, request_id="dup-fault")
    replays = emulator.state()["counters"].get("replays", 0)
    # The retry carries a free name, so only the replay can answer 6240.
    with pytest.raises(QuickbooksException) as again:
        customer("Fault Twice").save(qb=qb, request_id="dup-fault")
    for exc in (first, again):
        assert type(exc.value) is QuickbooksException and exc.value.error_code == 6240
    assert again.value.detail == first.value.detail
    assert emulator.state()["counters"]["replays"] == replays + 1
    assert emulator.customers(realm.realm_id) == {}  # "Fault Twice" was never created
    assert customer("Fault Twice").save(qb=qb).DisplayName == "Fault Twice"  # the name was free


def test_requestids_are_per_realm(emulator: EmulatorServer, qb: Any, realm: RealmTokens) -> None:
    other = emulator.add_realm()
    qb_other = emulator.quickbooks(other)
    a = customer("Realm A Co").save(qb=qb, request_id="same-id")
    b = customer("Realm B Co").save(qb=qb_other, request_id="same-id")
    assert b.DisplayName == "Realm B Co"
    assert list(emulator.customers(other.realm_id)) == [b.Id]
    assert a.DisplayName == "Realm A Co"


def test_requestid_longer_than_50_is_refused(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    customer("Fifty Co").save(qb=qb, request_id="r" * 50)
    with pytest.raises(QuickbooksException) as exc:
        customer("Fifty One Co").save(qb=qb, request_id="r" * 51)
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 6000
    assert "more than 50 characters in the request_id field" in exc.value.detail
    assert [c["DisplayName"] for c in emulator.customers(realm.realm_id).values()] == ["Fifty Co"]


def batch_post(qb: Any, items: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    """A batch with a requestid: python-quickbooks' batch helpers send none, its post() can."""
    url = f"{qb.api_url}/company/{qb.company_id}/batch"
    reply: dict[str, Any] = qb.post(
        url, json.dumps({"BatchItemRequest": items}), request_id=request_id
    )
    return reply


def test_batch_requestid_longer_than_36_is_refused(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    items = [{"bId": "b1", "operation": "create", "Customer": {"DisplayName": "Batch Rid Co"}}]
    with pytest.raises(QuickbooksException) as exc:
        batch_post(qb, items, "r" * 37)
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 6000
    assert "more than 36 characters in the request_id field" in exc.value.detail
    assert emulator.customers(realm.realm_id) == {}  # the whole batch was refused
    reply = batch_post(qb, items, "r" * 36)
    assert reply["BatchItemResponse"][0]["Customer"]["DisplayName"] == "Batch Rid Co"


def test_batch_with_requestid_allows_bids_of_at_most_10_characters(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    items = [
        {"bId": "b" * 10, "operation": "create", "Customer": {"DisplayName": "Short Bid Co"}},
        {"bId": "b" * 11, "operation": "create", "Customer": {"DisplayName": "Long Bid Co"}},
    ]
    replies = {r["bId"]: r for r in batch_post(qb, items, "batch-bids")["BatchItemResponse"]}
    assert replies["b" * 10]["Customer"]["DisplayName"] == "Short Bid Co"
    [error] = replies["b" * 11]["Fault"]["Error"]
    assert error["code"] == "6000" and error["element"] == "bId"
    names = [c["DisplayName"] for c in emulator.customers(realm.realm_id).values()]
    assert names == ["Short Bid Co"]
    # Without a requestid the bId may be longer (python-quickbooks sends 36-character uuids).
    url = f"{qb.api_url}/company/{qb.company_id}/batch"
    reply = qb.post(url, json.dumps({"BatchItemRequest": [items[1]]}))
    assert reply["BatchItemResponse"][0]["Customer"]["DisplayName"] == "Long Bid Co"
