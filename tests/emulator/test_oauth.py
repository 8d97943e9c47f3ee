"""OAuth (qbo.md 1.2, 6.2, 6.3, 8.2) through intuit-oauth's AuthClient and python-quickbooks."""

from __future__ import annotations

import time
from typing import Any

import pytest
from intuitlib.exceptions import AuthClientError
from quickbooks.exceptions import AuthorizationException, QuickbooksException
from quickbooks.objects.customer import Customer

from qbo_emulator.testing import EmulatorServer, RealmTokens, make_auth_client, make_quickbooks


def test_discovery_document_routes_auth_client_to_the_emulator(emulator: EmulatorServer) -> None:
    client = make_auth_client(emulator.base_url)
    assert client.token_endpoint == f"{emulator.base_url}/oauth2/v1/tokens/bearer"
    assert client.revoke_endpoint.startswith(emulator.base_url)


def test_refresh_rotates_and_the_old_refresh_token_gets_invalid_grant(
    emulator: EmulatorServer, realm: RealmTokens
) -> None:
    client = emulator.auth_client(realm)
    client.refresh()
    assert client.refresh_token != realm.refresh_token
    assert client.expires_in == 3600 and client.x_refresh_token_expires_in > 0
    rotated = client.refresh_token
    with pytest.raises(AuthClientError) as exc:
        client.refresh(refresh_token=realm.refresh_token)  # stale after rotation
    assert exc.value.status_code == 400
    assert b"invalid_grant" in exc.value.content
    client.refresh(refresh_token=rotated)  # the latest one still works


def test_building_quickbooks_without_access_token_refreshes(
    emulator: EmulatorServer, realm: RealmTokens
) -> None:
    auth = make_auth_client(
        emulator.base_url, refresh_token=realm.refresh_token, realm_id=realm.realm_id
    )
    qb = make_quickbooks(
        emulator.base_url, realm.realm_id, auth_client=auth, refresh_token=realm.refresh_token
    )
    assert (
        qb.refresh_token != realm.refresh_token
    )  # rotated as a side effect (python-quickbooks#392)
    assert Customer.count(qb=qb) == 0


def test_wrong_client_secret_is_refused(emulator: EmulatorServer, realm: RealmTokens) -> None:
    client = make_auth_client(
        emulator.base_url, refresh_token=realm.refresh_token, client_secret="nope"
    )
    with pytest.raises(AuthClientError) as exc:
        client.refresh()
    assert exc.value.status_code == 401


def test_expired_access_token_is_401_with_lowercase_fault(
    emulator: EmulatorServer, configure: Any
) -> None:
    configure(access_token_ttl=1)
    tokens = emulator.add_realm()
    qb = emulator.quickbooks(tokens)
    assert Customer.count(qb=qb) == 0
    time.sleep(1.1)
    with pytest.raises(AuthorizationException) as exc:
        Customer.count(qb=qb)
    assert exc.value.error_code == 401
    assert '"code": "3200"' in exc.value.detail and '"fault"' in exc.value.detail
    # Recovery: refresh with the latest refresh token and build a new client.
    auth = emulator.auth_client(tokens)
    auth.refresh()
    fresh = make_quickbooks(emulator.base_url, tokens.realm_id, auth_client=auth)
    assert Customer.count(qb=fresh) == 0


def test_admin_can_expire_tokens_now(emulator: EmulatorServer, realm: RealmTokens, qb: Any) -> None:
    assert Customer.count(qb=qb) == 0
    emulator.expire_tokens(realm.realm_id)
    with pytest.raises(AuthorizationException) as exc:
        Customer.count(qb=qb)
    assert exc.value.error_code == 401


def test_unknown_token_is_401(emulator: EmulatorServer, realm: RealmTokens) -> None:
    qb = emulator.quickbooks(RealmTokens(realm.realm_id, "not-a-token", realm.refresh_token))
    with pytest.raises(AuthorizationException) as exc:
        Customer.count(qb=qb)
    assert exc.value.error_code == 401


def test_token_for_another_realm_is_403(emulator: EmulatorServer, realm: RealmTokens) -> None:
    other = emulator.add_realm()
    qb = emulator.quickbooks(RealmTokens(realm.realm_id, other.access_token, other.refresh_token))
    with pytest.raises(QuickbooksException) as exc:
        Customer.count(qb=qb)
    assert exc.value.error_code == 10000 and "403" in exc.value.message


def test_revoke_kills_the_connection(emulator: EmulatorServer, realm: RealmTokens, qb: Any) -> None:
    emulator.auth_client(realm).revoke()
    with pytest.raises(AuthorizationException):
        Customer.count(qb=qb)
    with pytest.raises(AuthClientError):
        emulator.auth_client(realm).refresh()
