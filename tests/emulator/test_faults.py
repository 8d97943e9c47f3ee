"""Fault injection: latency, 5xx, timeouts and the response lost after commit
(docs/reference/quickbooks-online.md#emulator-fault-injection)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from quickbooks.exceptions import QuickbooksException, SevereException, UnsupportedException
from quickbooks.objects.customer import Customer

from qbo_emulator.testing import EmulatorServer, RealmTokens
from tests.emulator.conftest import customer


def test_latency(emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any) -> None:
    emulator.add_fault("latency", realm=realm.realm_id, seconds=0.3)
    started = time.monotonic()
    assert Customer.count(qb=qb) == 0
    assert time.monotonic() - started >= 0.3


def test_html_503_is_not_applied(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any
) -> None:
    emulator.add_fault(
        "error", realm=realm.realm_id, status=503, body="html", method="POST", path="^/customer"
    )
    with pytest.raises(QuickbooksException) as exc:
        customer("Unlucky").save(qb=qb)
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 10000
    assert "Error reading json response" in exc.value.message
    assert emulator.customers(realm.realm_id) == {}
    customer("Unlucky").save(qb=qb)  # the rule was used up


def test_json_500_is_severe(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any
) -> None:
    emulator.add_fault("error", realm=realm.realm_id, status=500, body="json")
    with pytest.raises(SevereException) as exc:
        Customer.count(qb=qb)
    assert type(exc.value) is SevereException and exc.value.error_code == 10000


def test_timeout_before_commit(
    emulator: EmulatorServer, realm: RealmTokens, configure: Any
) -> None:
    emulator.add_fault("timeout", realm=realm.realm_id, seconds=0.6)
    impatient = emulator.quickbooks(realm, timeout=0.2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        customer("Never Made").save(qb=impatient)
    time.sleep(0.6)
    assert emulator.customers(realm.realm_id) == {}


def test_gateway_timeout_body(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any
) -> None:
    emulator.add_fault("timeout", realm=realm.realm_id, seconds=0.0)
    with pytest.raises(QuickbooksException) as exc:
        Customer.count(qb=qb)
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 10000
    assert "504" in exc.value.message


def test_response_lost_after_commit_then_retry_with_same_requestid(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any
) -> None:
    emulator.add_fault("drop_after_commit", realm=realm.realm_id, method="POST", path="^/customer")
    with pytest.raises(requests.exceptions.RequestException):
        customer("Lost Reply Co").save(qb=qb, request_id="lost-reply-1")
    assert [c["DisplayName"] for c in emulator.customers(realm.realm_id).values()] == [
        "Lost Reply Co"
    ]
    retried = customer("Lost Reply Co").save(qb=qb, request_id="lost-reply-1")
    assert list(emulator.customers(realm.realm_id)) == [retried.Id]  # exactly one customer


def test_response_lost_then_naive_retry_collides(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any
) -> None:
    emulator.add_fault("drop_after_commit", realm=realm.realm_id, method="POST")
    with pytest.raises(requests.exceptions.RequestException):
        customer("Naive Co").save(qb=qb)
    with pytest.raises(QuickbooksException) as exc:
        customer("Naive Co").save(qb=qb)  # no requestid: the write already happened
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 6240


def test_hang_after_commit(emulator: EmulatorServer, realm: RealmTokens, configure: Any) -> None:
    emulator.add_fault("hang_after_commit", realm=realm.realm_id, seconds=0.6)
    impatient = emulator.quickbooks(realm, timeout=0.2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        customer("Slow Reply Co").save(qb=impatient, request_id="slow-1")
    assert [c["DisplayName"] for c in emulator.customers(realm.realm_id).values()] == [
        "Slow Reply Co"
    ]
    time.sleep(0.6)


def test_invalid_utf8_body_is_500(emulator: EmulatorServer, realm: RealmTokens, qb: Any) -> None:
    with pytest.raises(UnsupportedException) as exc:
        qb.create_object("Customer", b'{"DisplayName": "\xff\xfe"}')
    assert type(exc.value) is UnsupportedException and exc.value.error_code == 500


def test_request_log_and_counters(emulator: EmulatorServer, realm: RealmTokens, qb: Any) -> None:
    customer("Logged Co").save(qb=qb, request_id="log-me")
    entry = [e for e in emulator.requests() if e["requestid"] == "log-me"][-1]
    assert entry["method"] == "POST" and entry["status"] == 200 and entry["realm"] == realm.realm_id
    assert emulator.state()["creates_by_name"][f"{realm.realm_id}:Logged Co"] == 1


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "error", "status": 503, "body": "html"},
        {"kind": "error", "status": 500, "body": "xml"},
        {"kind": "timeout", "seconds": 0.0},
        {"kind": "drop_after_commit", "method": "POST"},
    ],
)
def test_injected_fault_answers_carry_an_intuit_tid(
    emulator: EmulatorServer, realm: RealmTokens, rule: dict[str, object]
) -> None:
    """Real 5xx answers carry the `intuit_tid` header that support asks for (see
    docs/reference/quickbooks-online.md#emulator-routing)."""
    emulator.add_fault(realm=realm.realm_id, **rule)  # type: ignore[arg-type]
    url = f"{emulator.base_url}/v3/company/{realm.realm_id}/customer"
    headers = {"Authorization": f"Bearer {realm.access_token}", "Accept": "application/json"}
    with requests.post(
        url, json={"DisplayName": "Tid Co"}, headers=headers, timeout=5, stream=True
    ) as reply:
        assert reply.status_code in (200, 500, 503, 504)
        assert reply.headers["intuit_tid"]
