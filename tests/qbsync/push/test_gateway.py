"""The QBO gateway against the emulator (no Kafka or database): pacing below QuickBooks' limits,
timeouts on every call, typed errors, one token refresh on 401, calls on its own threads. Every
realm here is created with issued tokens, and the gateway sends those."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any

import pytest

from qb_sync.domain import names
from qb_sync.qbo.errors import QboFault, Throttled, Transient
from qb_sync.qbo.gateway import QboGateway
from qb_sync.qbo.token_source import Tokens
from qb_sync.settings import Settings
from qbo_emulator.testing import EmulatorServer

TOKENS: dict[str, str] = {}  # realm -> the access token the emulator issued for it


class IssuedTokens:
    """The token issued with each realm (what a stored connection would hand out)."""

    async def tokens(self, tenant_id: str, realm_id: str) -> Tokens:
        return Tokens(TOKENS[realm_id])

    async def refreshed(self, tenant_id: str, realm_id: str, rejected_access_token: str) -> Tokens:
        return Tokens(TOKENS[realm_id])


def gateway(emulator: EmulatorServer, credentials: Any = None, **overrides: Any) -> QboGateway:
    values: dict[str, Any] = {
        "qbo_base_url": emulator.base_url,
        "qbo_retry_base_seconds": 0.01,
        "qbo_throttle_wait_seconds": 0.2,
        **overrides,
    }
    return QboGateway(Settings(**values), credentials or IssuedTokens())


def new_realm(emulator: EmulatorServer) -> str:
    realm = str(6_000_000_000 + uuid.uuid4().int % 1_000_000_000)
    TOKENS[realm] = emulator.add_realm(realm).access_token  # only issued tokens work here
    return realm


async def test_pacing_stays_under_the_company_limits_with_no_429(
    push_emulator: EmulatorServer,
) -> None:
    realm = new_realm(push_emulator)
    push_emulator.set_limits(realm, per_minute=1000, concurrent=3, per_second=6)
    gw = gateway(
        push_emulator, qbo_requests_per_second=5, qbo_requests_per_minute=1000, qbo_max_concurrent=2
    )
    started = time.monotonic()
    await asyncio.gather(
        *(
            gw.call("t", realm, "get", lambda qb: qb.query("SELECT * FROM Customer"))
            for _ in range(20)
        )
    )
    elapsed = time.monotonic() - started
    assert push_emulator.throttled_count(realm) == 0
    assert elapsed >= 19 / 5 * 0.95  # paced at 5/s, not sent at once


async def test_429_pauses_and_retries_then_raises_throttled(push_emulator: EmulatorServer) -> None:
    realm = new_realm(push_emulator)
    push_emulator.set_limits(realm, per_minute=2)
    gw = gateway(push_emulator, qbo_requests_per_second=100, qbo_call_retries=2)
    for _ in range(2):
        await gw.call("t", realm, "q", lambda qb: qb.query("SELECT * FROM Customer"))
    with pytest.raises(Throttled):
        await gw.call("t", realm, "q", lambda qb: qb.query("SELECT * FROM Customer"))
    assert gw.throttled == 3  # first try + 2 retries, each after a pause


async def test_every_call_has_a_read_timeout(push_emulator: EmulatorServer) -> None:
    realm = new_realm(push_emulator)
    push_emulator.set_faults(latency_ms=1500, realm_id=realm)
    gw = gateway(push_emulator, qbo_read_timeout_seconds=0.3, qbo_call_retries=1)
    started = time.monotonic()
    with pytest.raises(Transient, match="timeout"):
        await gw.call("t", realm, "q", lambda qb: qb.query("SELECT * FROM Customer"))
    assert time.monotonic() - started < 1.5
    push_emulator.set_faults()


async def test_business_faults_are_typed_by_code(push_emulator: EmulatorServer) -> None:
    realm = new_realm(push_emulator)
    push_emulator.seed_vendor(realm, "Taken Name")
    gw = gateway(push_emulator)
    body = json.dumps({"DisplayName": "Taken Name"})
    with pytest.raises(QboFault) as fault:
        await gw.call("t", realm, "create", lambda qb: qb.create_object("Customer", body))
    assert fault.value.code == 6240
    with pytest.raises(QboFault) as missing:
        await gw.call("t", realm, "get", lambda qb: qb.get_single_object("Customer", "999"))
    assert missing.value.code == 610


async def test_quotes_and_backslashes_in_a_name_query(push_emulator: EmulatorServer) -> None:
    realm = new_realm(push_emulator)
    for name in ("O'Brien", "Back\\slash\\", "Mixed 'quote' \\ both"):
        push_emulator.seed_customer(realm, name)
        gw = gateway(push_emulator)
        reply = await gw.call(
            "t", realm, "q", lambda qb, n=name: qb.query(names.by_display_name("Customer", n))
        )
        found = reply["QueryResponse"]["Customer"]
        assert [c["DisplayName"] for c in found] == [name]


class RotatingCredentials:
    def __init__(self, emulator: EmulatorServer, realm: str) -> None:
        self.emulator = emulator
        self.realm = realm
        self.current = emulator.issue_tokens(realm).access_token
        self.refreshes = 0

    async def tokens(self, tenant_id: str, realm_id: str) -> Tokens:
        return Tokens(self.current)

    async def refreshed(self, tenant_id: str, realm_id: str, rejected_access_token: str) -> Tokens:
        self.refreshes += 1
        self.current = self.emulator.issue_tokens(self.realm).access_token
        return Tokens(self.current)


async def test_a_rejected_token_is_refreshed_once_and_the_call_retried(
    push_emulator: EmulatorServer,
) -> None:
    realm = push_emulator.add_realm().realm_id
    credentials = RotatingCredentials(push_emulator, realm)
    gw = gateway(push_emulator, credentials)
    await gw.call("t", realm, "q", lambda qb: qb.query("SELECT * FROM Customer"))
    push_emulator.expire_tokens(realm)
    await gw.call("t", realm, "q", lambda qb: qb.query("SELECT * FROM Customer"))
    assert credentials.refreshes == 1


async def test_calls_run_on_the_gateways_own_threads(push_emulator: EmulatorServer) -> None:
    realm = new_realm(push_emulator)
    gw = gateway(push_emulator)
    try:
        name = await gw.call("t", realm, "q", lambda qb: threading.current_thread().name)
    finally:
        gw.close()
    assert name.startswith("qbo-call")  # not the default to_thread pool other code shares
