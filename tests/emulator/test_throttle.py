"""Throttling (qbo.md 6.1, 8.14): 429 with the XML body, which python-quickbooks reports as
QuickbooksException 10000 "Error reading json response" (python-quickbooks#43)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.customer import Customer

from qbo_emulator.testing import EmulatorServer, RealmTokens
from tests.emulator.conftest import customer


def assert_throttled(exc: pytest.ExceptionInfo[QuickbooksException]) -> None:
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 10000
    assert exc.value.message.startswith("Error reading json response: <?xml")
    assert "ThrottleExceeded" in exc.value.message and 'code="3001"' in exc.value.message


def test_defaults_are_quickbooks_limits(emulator: EmulatorServer) -> None:
    from qbo_emulator.settings import Settings

    defaults = Settings()
    assert (
        defaults.requests_per_minute,
        defaults.requests_per_second,
        defaults.max_concurrent,
    ) == (500, 10, 10)
    assert defaults.batch_per_minute == 40


def test_requests_per_minute_per_realm(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any
) -> None:
    configure(requests_per_minute=3)
    for _ in range(3):
        Customer.count(qb=qb)
    with pytest.raises(QuickbooksException) as exc:
        customer("Throttled Create").save(qb=qb)
    assert_throttled(exc)
    assert emulator.customers(realm.realm_id) == {}  # a throttled write has no side effect
    other = emulator.add_realm()  # the limit is per realm
    assert Customer.count(qb=emulator.quickbooks(other)) == 0


def test_requests_per_second_per_realm(qb: Any, configure: Any) -> None:
    configure(requests_per_second=2)
    Customer.count(qb=qb)
    Customer.count(qb=qb)
    with pytest.raises(QuickbooksException) as exc:
        Customer.count(qb=qb)
    assert_throttled(exc)


def test_concurrent_requests_per_realm(
    emulator: EmulatorServer, realm: RealmTokens, configure: Any
) -> None:
    configure(max_concurrent=2)
    emulator.add_fault("latency", realm=realm.realm_id, seconds=0.5, times=None)
    clients = [emulator.quickbooks(realm) for _ in range(4)]  # one session per thread

    def call(client: Any) -> str:
        try:
            Customer.count(qb=client)
            return "ok"
        except QuickbooksException as exc:
            return "429" if "ThrottleExceeded" in exc.message else repr(exc)

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(call, clients))
    assert outcomes == ["429", "429", "ok", "ok"]


def test_batch_requests_per_minute(qb: Any, configure: Any) -> None:
    configure(batch_per_minute=1)
    Customer.count(qb=qb)
    from quickbooks.batch import batch_create

    batch_create([customer("Batch Throttle 1")], qb=qb)
    with pytest.raises(QuickbooksException) as exc:
        batch_create([customer("Batch Throttle 2")], qb=qb)
    assert_throttled(exc)


def test_retry_after_header_is_optional(
    emulator: EmulatorServer, realm: RealmTokens, configure: Any
) -> None:
    import requests

    configure(requests_per_minute=1, retry_after_seconds=60)
    url = f"{emulator.base_url}/v3/company/{realm.realm_id}/query"
    headers = {"Authorization": f"Bearer {realm.access_token}", "Content-Type": "application/text"}
    requests.post(url, data="SELECT COUNT(*) FROM Customer", headers=headers, timeout=5)
    reply = requests.post(url, data="SELECT COUNT(*) FROM Customer", headers=headers, timeout=5)
    assert reply.status_code == 429 and reply.headers["Retry-After"] == "60"
    assert reply.headers["content-type"].startswith("application/xml")
