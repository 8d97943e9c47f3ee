"""`requestid` replay (qbo.md 3, 8.10): a repeated id returns the first answer, per realm."""

from __future__ import annotations

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
    for _ in range(2):
        with pytest.raises(QuickbooksException) as exc:
            customer("Fault Once").save(qb=qb, request_id="dup-fault")
        assert exc.value.error_code == 6240


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
