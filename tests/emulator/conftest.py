"""One emulator per test session (background thread); each test gets its own company (realm)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from quickbooks.objects.customer import Customer

from qbo_emulator.testing import EmulatorServer, RealmTokens


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    # QuickBooks' 10 requests/s per realm would make fast tests flaky; throttle tests set their own.
    with EmulatorServer(settings={"requests_per_second": 10_000}) as server:
        yield server


@pytest.fixture
def realm(emulator: EmulatorServer) -> RealmTokens:
    return emulator.add_realm()


@pytest.fixture
def qb(emulator: EmulatorServer, realm: RealmTokens) -> Any:
    return emulator.quickbooks(realm)


@pytest.fixture
def configure(emulator: EmulatorServer) -> Iterator[Callable[..., Any]]:
    """Change emulator settings for one test; settings and faults are restored afterwards."""
    before = emulator.admin("GET", "/config")
    yield emulator.configure
    emulator.clear_faults()
    emulator.configure(**before)


def customer(display_name: str | None = None, **fields: Any) -> Customer:
    """A python-quickbooks Customer as an application would build it (library defaults kept)."""
    obj = Customer()
    if display_name is not None:
        obj.DisplayName = display_name
    for key, value in fields.items():
        setattr(obj, key, value)
    return obj


def sparse(qb: Any, fields: dict[str, Any], request_id: str | None = None) -> dict[str, Any]:
    """A hand-built sparse update through the library's client (why: the sparse-update trap in
    docs/reference/quickbooks-online.md#the-customer-object-and-sparse-updates)."""
    reply: dict[str, Any] = qb.update_object(
        "Customer", json.dumps({**fields, "sparse": True}), request_id=request_id
    )
    return reply["Customer"]
