"""Throttling (docs/reference/quickbooks-online.md#limits-and-throttling): 429 with the XML body,
which python-quickbooks reports as QuickbooksException 10000 "Error reading json response"
(https://github.com/ej2/python-quickbooks/issues/43)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.customer import Customer

from qbo_emulator.testing import EmulatorServer, RealmTokens
from tests.emulator.conftest import customer


def assert_throttled(exc: QuickbooksException) -> None:
    assert type(exc) is QuickbooksException and exc.error_code == 10000
    assert exc.message.startswith("Error reading json response: <?xml")
    assert "ThrottleExceeded" in exc.message and 'code="3001"' in exc.message


def count_in_threads(clients: list[Any]) -> list[str]:
    """Customer.count from one thread per client, all released at once: "ok" or "429"."""
    barrier = threading.Barrier(len(clients))

    def call(client: Any) -> str:
        barrier.wait()
        try:
            Customer.count(qb=client)
            return "ok"
        except QuickbooksException as exc:
            assert_throttled(exc)
            return "429"

    with ThreadPoolExecutor(len(clients)) as pool:
        return sorted(pool.map(call, clients))


def test_defaults_are_quickbooks_limits() -> None:
    # The server as the platform starts it: no settings, no harness defaults.
    with EmulatorServer(subprocess_mode=True, permissive=False, service_time_ms=None) as server:
        config = server.admin("GET", "/config")
        assert (config["requests_per_minute"], config["requests_per_second"]) == (500, 10)
        assert (config["max_concurrent"], config["batch_per_minute"]) == (10, 40)
        assert config["service_time_ms"] == 200
        realm = server.add_realm()
        # Eleven calls at once: the 11th is over the 10-a-second and the 10-in-flight limits.
        server.add_fault("latency", realm=realm.realm_id, seconds=2.0, times=None)
        outcomes = count_in_threads([server.quickbooks(realm) for _ in range(11)])
        assert outcomes == ["429"] + ["ok"] * 10
        assert server.throttled_count(realm.realm_id) == 1


def test_concurrency_limit_is_reached_with_a_service_time(
    emulator: EmulatorServer, realm: RealmTokens, configure: Any
) -> None:
    # QuickBooks' 10 in flight (the session allows 10,000/s, so only concurrency can refuse).
    configure(service_time_ms=1500)
    outcomes = count_in_threads([emulator.quickbooks(realm) for _ in range(14)])
    assert outcomes == ["429"] * 4 + ["ok"] * 10
    assert emulator.throttled_count(realm.realm_id, "concurrent") == 4
    assert emulator.throttled_count(realm.realm_id) == 4


def test_requests_per_minute_per_realm(
    emulator: EmulatorServer, realm: RealmTokens, qb: Any, configure: Any
) -> None:
    configure(requests_per_minute=3)
    for _ in range(3):
        Customer.count(qb=qb)
    with pytest.raises(QuickbooksException) as exc:
        customer("Throttled Create").save(qb=qb)
    assert_throttled(exc.value)
    assert emulator.customers(realm.realm_id) == {}  # a throttled write has no side effect
    other = emulator.add_realm()  # the limit is per realm
    assert Customer.count(qb=emulator.quickbooks(other)) == 0


def test_requests_per_second_per_realm(qb: Any, configure: Any) -> None:
    configure(requests_per_second=2)
    Customer.count(qb=qb)
    Customer.count(qb=qb)
    with pytest.raises(QuickbooksException) as exc:
        Customer.count(qb=qb)
    assert_throttled(exc.value)


def test_concurrent_requests_per_realm(
    emulator: EmulatorServer, realm: RealmTokens, configure: Any
) -> None:
    configure(max_concurrent=2)
    emulator.add_fault("latency", realm=realm.realm_id, seconds=0.5, times=None)
    clients = [emulator.quickbooks(realm) for _ in range(4)]  # one session per thread
    assert count_in_threads(clients) == ["429", "429", "ok", "ok"]
    assert emulator.throttled_count(realm.realm_id, "concurrent") == 2


def test_batch_requests_per_minute(qb: Any, configure: Any) -> None:
    configure(batch_per_minute=1)
    Customer.count(qb=qb)
    from quickbooks.batch import batch_create

    batch_create([customer("Batch Throttle 1")], qb=qb)
    with pytest.raises(QuickbooksException) as exc:
        batch_create([customer("Batch Throttle 2")], qb=qb)
    assert_throttled(exc.value)


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
    assert reply.headers["intuit_tid"]  # like every QuickBooks answer
