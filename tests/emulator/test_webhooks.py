"""Merge and outgoing webhooks (docs/reference/quickbooks-online.md#webhooks), verified with
python-quickbooks' validate_webhook_signature."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from quickbooks.exceptions import ObjectNotFoundException
from quickbooks.objects.customer import Customer

from qbo_emulator.testing import EmulatorServer, RealmTokens
from tests.emulator.conftest import customer, sparse

VERIFIER = "test-verifier-token"


class Receiver:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []  # (raw body, intuit-signature)
        self.fail_first = 0
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                if received.fail_first > 0:
                    received.fail_first -= 1
                    self.send_response(500)
                else:
                    received.calls.append((body, self.headers["intuit-signature"]))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, realm_id: str) -> list[tuple[str, str]]:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            mine = [c for c in self.calls if realm_id in c[0]]
            if len(mine) >= count:
                return mine
            time.sleep(0.02)
        raise AssertionError(f"only {self.calls} arrived")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.server.shutdown()


def test_merge_makes_one_id_disappear_into_another(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any
) -> None:
    loser = customer("Dup Person", Balance=10).save(qb=qb)
    winner = customer("Dup Person (2)", Balance=5).save(qb=qb)
    emulator.merge(realm.realm_id, loser.Id, winner.Id)
    with pytest.raises(ObjectNotFoundException) as exc:
        Customer.get(loser.Id, qb=qb)
    assert type(exc.value) is ObjectNotFoundException and exc.value.error_code == 610
    merged = Customer.get(winner.Id, qb=qb)
    assert merged.Balance == 15 and merged.SyncToken == "1"


def test_legacy_webhook_is_signed(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any, receiver: Receiver
) -> None:
    configure(webhook_url=receiver.url, webhook_verifier_token=VERIFIER, webhook_format="legacy")
    created = customer("Hooked Co").save(qb=qb)
    body, signature = receiver.wait(1, realm.realm_id)[0]
    assert qb.validate_webhook_signature(body, signature, VERIFIER)
    assert not qb.validate_webhook_signature(body, signature, "wrong-token")
    note = json.loads(body)["eventNotifications"][0]
    assert note["realmId"] == realm.realm_id
    assert note["dataChangeEvent"]["entities"][0] | {"lastUpdated": None} == {
        "id": created.Id,
        "operation": "Create",
        "name": "Customer",
        "lastUpdated": None,
    }


def test_cloudevents_webhook_for_merge(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any, receiver: Receiver
) -> None:
    loser = customer("CE Loser").save(qb=qb)
    winner = customer("CE Winner").save(qb=qb)
    configure(
        webhook_url=receiver.url, webhook_verifier_token=VERIFIER, webhook_format="cloudevents"
    )
    emulator.merge(realm.realm_id, loser.Id, winner.Id)
    body, signature = receiver.wait(1, realm.realm_id)[0]
    assert qb.validate_webhook_signature(body, signature, VERIFIER)
    [event] = json.loads(body)
    assert event["specversion"] == "1.0" and event["type"] == "qbo.customer.merged.v1"
    assert event["intuitentityid"] == winner.Id and event["intuitaccountid"] == realm.realm_id
    assert event["data"] == {"deletedid": loser.Id}


def test_webhook_is_retried_after_a_failure(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any, receiver: Receiver
) -> None:
    configure(webhook_url=receiver.url, webhook_retry_delays=[0.05, 0.05])
    receiver.fail_first = 1
    customer("Retry Hook Co").save(qb=qb)
    receiver.wait(1, realm.realm_id)
    delivery = [
        d for d in emulator.webhook_deliveries() if d["event"]["realmId"] == realm.realm_id
    ][-1]
    assert [a.get("status") for a in delivery["attempts"]] == [500, 200]


def operations(calls: list[tuple[str, str]]) -> list[str]:
    return [
        json.loads(body)["eventNotifications"][0]["dataChangeEvent"]["entities"][0]["operation"]
        for body, _ in calls
    ]


def test_webhook_time_follows_the_emulator_clock(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any, receiver: Receiver
) -> None:
    configure(webhook_url=receiver.url, clock_offset_seconds=-10 * 86400)  # ten days ago
    created = customer("Clocked Hook Co").save(qb=qb)
    body, _ = receiver.wait(1, realm.realm_id)[0]
    entity = json.loads(body)["eventNotifications"][0]["dataChangeEvent"]["entities"][0]
    sent = datetime.fromisoformat(entity["lastUpdated"].replace("Z", "+00:00"))
    stamped = datetime.fromisoformat(created.MetaData["LastUpdatedTime"])
    assert abs(sent - stamped) < timedelta(seconds=2)  # the same clock, not the wall clock


def test_a_past_notification_can_be_delivered_again(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any, receiver: Receiver
) -> None:
    configure(webhook_url=receiver.url, webhook_verifier_token=VERIFIER)
    customer("Twice Told Co").save(qb=qb)
    [original] = receiver.wait(1, realm.realm_id)
    [record] = [d for d in emulator.webhook_deliveries() if d["event"]["realmId"] == realm.realm_id]
    duplicate = emulator.redeliver_webhook(record["seq"])
    assert duplicate["duplicate_of"] == record["seq"]
    first, again = receiver.wait(2, realm.realm_id)
    assert again == first == original  # the same bytes and the same signature
    assert qb.validate_webhook_signature(again[0], again[1], VERIFIER)


def test_held_notifications_can_be_released_out_of_order(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any, receiver: Receiver
) -> None:
    configure(webhook_url=receiver.url, webhook_verifier_token=VERIFIER)
    emulator.hold_webhooks()
    try:
        created = customer("Late News Co").save(qb=qb)
        sparse(qb, {"Id": created.Id, "SyncToken": created.SyncToken, "Notes": "later"})
        held = [d for d in emulator.webhook_deliveries() if d["event"]["realmId"] == realm.realm_id]
        assert [(d["held"], d["attempts"]) for d in held] == [(True, [])] * 2  # nothing sent
    finally:
        released = emulator.release_webhooks("reverse")
    assert released == [held[1]["seq"], held[0]["seq"]]
    calls = receiver.wait(2, realm.realm_id)
    assert operations(calls) == ["Update", "Create"]  # the newer change arrives first
    assert all(qb.validate_webhook_signature(body, sig, VERIFIER) for body, sig in calls)
