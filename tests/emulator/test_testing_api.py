"""The `qbo_emulator.testing` API qb-sync codes against: seed_realm, state, set_faults,
set_limits, edit_customer, merge, counters, quickbooks_client/auth_client, async use, /healthz.
Everything is driven through the real python-quickbooks and intuit-oauth clients."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
import uuid
from typing import Any

import pytest
import requests
from intuitlib.exceptions import AuthClientError
from quickbooks.exceptions import (
    AuthorizationException,
    ObjectNotFoundException,
    QuickbooksException,
)
from quickbooks.objects.customer import Customer

from qbo_emulator.testing import EmulatorServer, auth_client, quickbooks_client
from tests.emulator.conftest import customer


def new_realm_id() -> str:
    return str(uuid.uuid4().int % 10**16)


@pytest.fixture
def seeded(emulator: EmulatorServer) -> Any:
    realm_id = new_realm_id()
    emulator.seed_realm(
        realm_id, customers=["Alpha Co", "Beta Co"], vendors=["Vend Co"], employees=["Emp One"]
    )
    yield realm_id
    emulator.set_faults()


def test_healthz(emulator: EmulatorServer) -> None:
    with urllib.request.urlopen(emulator.base_url + "/healthz", timeout=5) as reply:
        assert reply.status == 200


def test_seed_realm_and_permissive_client(emulator: EmulatorServer, seeded: str) -> None:
    qb = quickbooks_client(emulator.base_url, seeded)  # no token: any bearer is accepted
    names = sorted(c.DisplayName for c in Customer.all(qb=qb))
    assert names == ["Alpha Co", "Beta Co"]
    # Seeded vendor and employee names collide with customers (6240).
    for name in ("Vend Co", "Emp One"):
        with pytest.raises(QuickbooksException) as exc:
            customer(name).save(qb=qb)
        assert type(exc.value) is QuickbooksException and exc.value.error_code == 6240
    state = emulator.state(seeded)
    assert {c["DisplayName"] for c in state.values()} == {"Alpha Co", "Beta Co"}
    assert all(cid == c["Id"] for cid, c in state.items())


def test_unknown_realm_is_created_on_first_permissive_call(emulator: EmulatorServer) -> None:
    realm_id = new_realm_id()
    qb = quickbooks_client(emulator.base_url, realm_id, access_token="whatever")
    created = customer("First Co").save(qb=qb)
    assert emulator.state(realm_id)[created.Id]["DisplayName"] == "First Co"


def test_require_tokens_makes_realm_strict(emulator: EmulatorServer, seeded: str) -> None:
    emulator.require_tokens(seeded)
    with pytest.raises(AuthorizationException) as exc:
        Customer.all(qb=quickbooks_client(emulator.base_url, seeded))
    assert type(exc.value) is AuthorizationException and exc.value.error_code == 401
    tokens = emulator.issue_tokens(seeded)
    qb = quickbooks_client(emulator.base_url, seeded, access_token=tokens.access_token)
    assert Customer.count(qb=qb) == 2


def test_state_includes_inactive(emulator: EmulatorServer, seeded: str) -> None:
    qb = quickbooks_client(emulator.base_url, seeded)
    gone = customer("Gone Co").save(qb=qb)
    gone.Active = False
    gone.save(qb=qb)
    assert Customer.count(qb=qb) == 2  # queries hide inactive customers
    assert emulator.state(seeded)[gone.Id]["Active"] is False


def test_edit_customer_makes_client_copy_stale(emulator: EmulatorServer, seeded: str) -> None:
    qb = quickbooks_client(emulator.base_url, seeded)
    mine = Customer.filter(DisplayName="Alpha Co", qb=qb)[0]
    edited = emulator.edit_customer(seeded, mine.Id, Notes="changed in QuickBooks")
    assert int(edited["SyncToken"]) == int(mine.SyncToken) + 1
    mine.Notes = "changed by us"
    with pytest.raises(QuickbooksException) as exc:
        mine.save(qb=qb)
    # 5010 falls outside the library's ranges: a plain QuickbooksException.
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 5010


def test_merge(emulator: EmulatorServer, seeded: str) -> None:
    qb = quickbooks_client(emulator.base_url, seeded)
    alpha = Customer.filter(DisplayName="Alpha Co", qb=qb)[0]
    beta = Customer.filter(DisplayName="Beta Co", qb=qb)[0]
    emulator.merge(seeded, alpha.Id, beta.Id)
    assert set(emulator.state(seeded)) == {beta.Id}
    with pytest.raises(ObjectNotFoundException) as exc:
        Customer.get(alpha.Id, qb=qb)
    assert type(exc.value) is ObjectNotFoundException and exc.value.error_code == 610


def test_set_faults_fail_next_n_5xx(emulator: EmulatorServer, seeded: str) -> None:
    qb = quickbooks_client(emulator.base_url, seeded)
    emulator.set_faults(fail_next_n_5xx=2, realm_id=seeded)
    for _ in range(2):
        with pytest.raises(QuickbooksException) as exc:
            customer("Retry Co").save(qb=qb)
        assert type(exc.value) is QuickbooksException and exc.value.error_code == 10000
        assert "503" in exc.value.message
    customer("Retry Co").save(qb=qb)
    assert len(emulator.state(seeded)) == 3


def test_set_faults_error_rate(emulator: EmulatorServer, seeded: str) -> None:
    qb = quickbooks_client(emulator.base_url, seeded)
    emulator.set_faults(error_5xx_rate=1.0, realm_id=seeded)
    with pytest.raises(QuickbooksException) as exc:
        Customer.count(qb=qb)
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 10000
    assert "503" in exc.value.message
    emulator.set_faults(error_5xx_rate=0.5, realm_id=seeded)
    failures = 0
    for _ in range(40):
        try:
            Customer.count(qb=qb)
        except QuickbooksException as failure:
            assert type(failure) is QuickbooksException and failure.error_code == 10000
            failures += 1
    assert 5 <= failures <= 35
    emulator.set_faults()
    assert Customer.count(qb=qb) == 2


def test_set_faults_latency_and_timeout(emulator: EmulatorServer, seeded: str) -> None:
    emulator.set_faults(latency_ms=300, realm_id=seeded)
    qb = quickbooks_client(emulator.base_url, seeded)
    started = time.monotonic()
    Customer.count(qb=qb)
    assert time.monotonic() - started >= 0.3
    emulator.set_faults(timeout_next_n=1, timeout_seconds=0.5, realm_id=seeded)
    impatient = quickbooks_client(emulator.base_url, seeded, timeout=0.2)
    with pytest.raises(requests.exceptions.ReadTimeout) as exc:
        customer("Slow Co").save(qb=impatient)
    assert type(exc.value) is requests.exceptions.ReadTimeout
    time.sleep(0.5)
    assert len(emulator.state(seeded)) == 2  # a timeout applies nothing


def test_set_faults_drop_response_after_commit(emulator: EmulatorServer, seeded: str) -> None:
    qb = quickbooks_client(emulator.base_url, seeded)
    emulator.set_faults(drop_response_after_commit_next_n=1, realm_id=seeded)
    with pytest.raises(requests.exceptions.RequestException):
        customer("Lost Reply Co").save(qb=qb, request_id="lost-1")
    assert len(emulator.state(seeded)) == 3  # committed anyway
    again = customer("Lost Reply Co").save(qb=qb, request_id="lost-1")  # replayed
    assert again.DisplayName == "Lost Reply Co" and len(emulator.state(seeded)) == 3


def test_set_faults_rejects_unknown_keys(emulator: EmulatorServer) -> None:
    with pytest.raises(RuntimeError):
        emulator.set_faults(bogus=1)


def test_set_limits_per_minute_and_counters(emulator: EmulatorServer, seeded: str) -> None:
    emulator.set_limits(seeded, per_minute=3)
    qb = quickbooks_client(emulator.base_url, seeded)
    for _ in range(3):
        Customer.count(qb=qb)
    with pytest.raises(QuickbooksException) as exc:
        Customer.count(qb=qb)
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 10000
    assert "ThrottleExceeded" in exc.value.message
    assert emulator.request_count(seeded) == 4
    assert emulator.throttled_count(seeded) == 1
    emulator.set_limits(seeded, per_minute=None)
    Customer.count(qb=qb)


def test_set_limits_concurrent(emulator: EmulatorServer, seeded: str) -> None:
    emulator.set_limits(seeded, concurrent=1)
    emulator.set_faults(latency_ms=400, realm_id=seeded)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            Customer.count(qb=quickbooks_client(emulator.base_url, seeded))
        except QuickbooksException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 2 and emulator.throttled_count(seeded) == 2


def test_auth_client_refresh_through_emulator(emulator: EmulatorServer, seeded: str) -> None:
    emulator.require_tokens(seeded)
    tokens = emulator.issue_tokens(seeded)
    client = auth_client(emulator.base_url, refresh_token=tokens.refresh_token, realm_id=seeded)
    client.refresh()
    assert client.refresh_token != tokens.refresh_token
    qb = quickbooks_client(emulator.base_url, seeded, access_token=client.access_token)
    assert Customer.count(qb=qb) == 2
    stale = auth_client(emulator.base_url, refresh_token=tokens.refresh_token)
    with pytest.raises(AuthClientError) as exc:
        stale.refresh()
    assert exc.value.status_code == 400 and b"invalid_grant" in exc.value.content


def test_reset_drops_everything(seeded: str) -> None:
    with EmulatorServer() as own:
        own.seed_realm("1", customers=["Only Co"])
        own.reset()
        with pytest.raises(RuntimeError):
            own.state("1")


async def test_usable_from_async_tests() -> None:
    async with EmulatorServer() as emu:
        emu.seed_realm("42", customers=["Async Co"])
        qb = quickbooks_client(emu.base_url, "42")
        assert [c.DisplayName for c in Customer.all(qb=qb)] == ["Async Co"]
        assert json.loads(json.dumps(emu.state("42")))
