"""Refresh tokens as Intuit rotates them (the server's default; the harness rotates on every
refresh unless told otherwise), through intuit-oauth's AuthClient and python-quickbooks."""

from __future__ import annotations

import base64
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from intuitlib.exceptions import AuthClientError
from quickbooks.objects.customer import Customer

from qbo_emulator.testing import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    EmulatorServer,
    RealmTokens,
    make_auth_client,
    make_quickbooks,
)

DAY = 86400
FIVE_YEARS = 5 * 365 * DAY


@pytest.fixture
def intuit_rotation(configure: Callable[..., Any]) -> Callable[..., Any]:
    """Intuit's rotation on the shared harness server: a value lasts a day, its successor's
    predecessor stays usable 24 hours."""
    configure(refresh_token_rotation_seconds=DAY, refresh_grace_seconds=DAY)
    return configure


def refreshed(emulator: EmulatorServer, refresh_token: str) -> Any:
    client = make_auth_client(emulator.base_url, refresh_token=refresh_token)
    client.refresh()
    return client


def test_the_server_defaults_are_intuits() -> None:
    with EmulatorServer(permissive=False, service_time_ms=None, rotate_every_refresh=False) as emu:
        config = emu.admin("GET", "/config")
    assert config["refresh_token_rotation_seconds"] == DAY
    assert config["refresh_grace_seconds"] == DAY
    assert config["refresh_token_ttl"] == 8726400
    assert config["refresh_token_max_lifetime"] == FIVE_YEARS


def test_refreshing_with_the_held_token_keeps_it_for_a_day(
    emulator: EmulatorServer, realm: RealmTokens, intuit_rotation: Callable[..., Any]
) -> None:
    # python-quickbooks' own integration suite builds a client from the same refresh token in
    # every test; QuickBooks(...) without an access token refreshes on construction.
    for _ in range(3):
        auth = make_auth_client(emulator.base_url, refresh_token=realm.refresh_token)
        qb = make_quickbooks(
            emulator.base_url, realm.realm_id, auth_client=auth, refresh_token=realm.refresh_token
        )
        assert qb.refresh_token == realm.refresh_token
        Customer.all(qb=qb)  # the new access token works
    first = refreshed(emulator, realm.refresh_token).x_refresh_token_expires_in
    intuit_rotation(clock_offset_seconds=3600)
    later = refreshed(emulator, realm.refresh_token)
    assert later.refresh_token == realm.refresh_token
    # The value's own lifetime counts down (as Intuit staff describe in oauth-jsclient#74).
    assert first - 3601 <= later.x_refresh_token_expires_in <= first - 3599


def test_after_a_day_a_new_value_and_the_old_one_is_stale_for_24_hours(
    emulator: EmulatorServer, realm: RealmTokens, intuit_rotation: Callable[..., Any]
) -> None:
    intuit_rotation(clock_offset_seconds=DAY + 60)
    rotated = refreshed(emulator, realm.refresh_token)
    assert rotated.refresh_token != realm.refresh_token
    assert rotated.x_refresh_token_expires_in == 8726400
    # Within 24 hours the stale value still works, and hands back the newest one.
    intuit_rotation(clock_offset_seconds=DAY + 60 + 23 * 3600)
    again = refreshed(emulator, realm.refresh_token)
    assert again.refresh_token == rotated.refresh_token
    # After 24 hours it is dead; the newest keeps working.
    intuit_rotation(clock_offset_seconds=2 * DAY + 120)
    with pytest.raises(AuthClientError) as exc:
        refreshed(emulator, realm.refresh_token)
    assert exc.value.status_code == 400 and b"invalid_grant" in exc.value.content
    assert refreshed(emulator, rotated.refresh_token).access_token


def test_two_workers_refreshing_at_once_both_hold_the_newest_token(
    emulator: EmulatorServer, realm: RealmTokens, intuit_rotation: Callable[..., Any]
) -> None:
    intuit_rotation(clock_offset_seconds=DAY + 60)  # the held value is due for rotation
    with ThreadPoolExecutor(max_workers=4) as pool:
        clients = list(pool.map(lambda _: refreshed(emulator, realm.refresh_token), range(4)))
    newest = {c.refresh_token for c in clients}
    assert len(newest) == 1 and realm.refresh_token not in newest
    # Whichever worker stores last, the stored value is the live one.
    assert refreshed(emulator, newest.pop()).access_token


def test_no_refresh_token_outlives_the_five_year_grant(
    emulator: EmulatorServer, realm: RealmTokens, intuit_rotation: Callable[..., Any]
) -> None:
    near_end = FIVE_YEARS - 30 * DAY
    holder = realm.refresh_token
    # Keep the chain alive as a well-behaved client would, up to a month before the end.
    for offset in range(100 * DAY - DAY, near_end, 99 * DAY):
        intuit_rotation(clock_offset_seconds=offset)
        holder = refreshed(emulator, holder).refresh_token
    intuit_rotation(clock_offset_seconds=near_end)
    client = refreshed(emulator, holder)
    # Reported expiry stops at the grant's end, not 101 days out.
    assert 29 * DAY <= client.x_refresh_token_expires_in <= 30 * DAY
    intuit_rotation(clock_offset_seconds=FIVE_YEARS + 60)
    with pytest.raises(AuthClientError) as exc:
        refreshed(emulator, client.refresh_token)
    assert b"invalid_grant" in exc.value.content


def test_hard_expiry_is_reported_when_asked_for(
    emulator: EmulatorServer, realm: RealmTokens
) -> None:
    # intuit-oauth 1.2.7's opt-in header; 1.2.6 (our pin) cannot send it, so raw HTTP here.
    basic = base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
    reply = requests.post(
        f"{emulator.base_url}/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": realm.refresh_token},
        headers={
            "Authorization": f"Basic {basic}",
            "x-include-refresh-token-hard-expires-in": "true",
        },
        timeout=10,
    )
    assert reply.status_code == 200
    body = reply.json()
    assert FIVE_YEARS - 60 <= body["x_refresh_token_hard_expires_in"] <= FIVE_YEARS
    assert body["x_refresh_token_expires_in"] <= body["x_refresh_token_hard_expires_in"]


def test_the_token_endpoint_sends_intuit_tid(emulator: EmulatorServer, realm: RealmTokens) -> None:
    client = make_auth_client(emulator.base_url, refresh_token=realm.refresh_token)
    with pytest.raises(AuthClientError) as exc:
        client.refresh(refresh_token="AB1-not-a-token")
    assert exc.value.intuit_tid  # intuit-oauth puts it in the error it raises
    basic = base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
    ok = requests.post(
        client.token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": realm.refresh_token},
        headers={"Authorization": f"Basic {basic}"},
        timeout=10,
    )
    assert ok.status_code == 200 and ok.headers["intuit_tid"]
