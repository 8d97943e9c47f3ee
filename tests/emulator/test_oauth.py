"""OAuth (qbo.md 1.2, 6.2, 6.3, 8.2) through intuit-oauth's AuthClient and python-quickbooks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from intuitlib.exceptions import AuthClientError
from quickbooks.exceptions import AuthorizationException, QuickbooksException
from quickbooks.objects.customer import Customer

from qbo_emulator.testing import (
    EmulatorServer,
    RealmTokens,
    make_auth_client,
    make_quickbooks,
    quickbooks_client,
)


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
    assert type(exc.value) is AuthorizationException and exc.value.error_code == 401
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
    assert type(exc.value) is AuthorizationException and exc.value.error_code == 401


def test_unknown_token_is_401(emulator: EmulatorServer, realm: RealmTokens) -> None:
    qb = emulator.quickbooks(RealmTokens(realm.realm_id, "not-a-token", realm.refresh_token))
    with pytest.raises(AuthorizationException) as exc:
        Customer.count(qb=qb)
    assert type(exc.value) is AuthorizationException and exc.value.error_code == 401


def test_token_for_another_realm_is_403(emulator: EmulatorServer, realm: RealmTokens) -> None:
    other = emulator.add_realm()
    qb = emulator.quickbooks(RealmTokens(realm.realm_id, other.access_token, other.refresh_token))
    with pytest.raises(QuickbooksException) as exc:
        Customer.count(qb=qb)
    # python-quickbooks only maps 401 itself; any other status is the base class, 10000.
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 10000
    assert "403" in exc.value.message


def test_revoke_kills_the_connection(emulator: EmulatorServer, realm: RealmTokens, qb: Any) -> None:
    emulator.auth_client(realm).revoke()
    with pytest.raises(AuthorizationException) as exc:
        Customer.count(qb=qb)
    assert type(exc.value) is AuthorizationException and exc.value.error_code == 401
    with pytest.raises(AuthClientError) as refused:
        emulator.auth_client(realm).refresh()
    assert refused.value.status_code == 400 and b"invalid_grant" in refused.value.content


@pytest.fixture(scope="module")
def strict() -> Iterator[EmulatorServer]:
    """A server with the emulator's own (strict) authentication, as QuickBooks has."""
    with EmulatorServer(permissive=False) as server:
        yield server


def assert_401(qb: Any) -> None:
    with pytest.raises(AuthorizationException) as exc:
        Customer.count(qb=qb)
    assert type(exc.value) is AuthorizationException and exc.value.error_code == 401
    assert '"code": "3200"' in exc.value.detail


def test_strict_server_refuses_tokens_it_never_issued(strict: EmulatorServer) -> None:
    assert_401(quickbooks_client(strict.base_url, "4620816365000000111", access_token="made-up"))
    strict.seed_realm("4620816365000000112", customers=["Seeded Co"])  # strict: no tokens
    assert_401(quickbooks_client(strict.base_url, "4620816365000000112"))  # placeholder bearer
    tokens = strict.add_realm("4620816365000000112")  # tokens for the seeded realm
    assert Customer.count(qb=strict.quickbooks(tokens)) == 1
    assert "4620816365000000111" not in strict.state()["realms"]  # nothing auto-created


def test_strict_server_refuses_a_valid_token_on_an_unknown_realm(strict: EmulatorServer) -> None:
    tokens = strict.add_realm()
    qb = strict.quickbooks(RealmTokens("4620816365000000113", tokens.access_token, ""))
    with pytest.raises(QuickbooksException) as exc:
        Customer.count(qb=qb)
    assert type(exc.value) is QuickbooksException and exc.value.error_code == 10000
    assert "403" in exc.value.message


def test_permissive_realm_on_a_strict_server_is_an_explicit_opt_in(strict: EmulatorServer) -> None:
    strict.seed_realm("4620816365000000114", customers=["Open Co"], permissive=True)
    assert Customer.count(qb=quickbooks_client(strict.base_url, "4620816365000000114")) == 1


def test_one_strict_realm_on_the_permissive_harness(emulator: EmulatorServer) -> None:
    emulator.seed_realm("4620816365000000115", customers=["Closed Co"], permissive=False)
    assert_401(quickbooks_client(emulator.base_url, "4620816365000000115"))


def test_revoked_token_is_refused_even_by_a_permissive_realm(emulator: EmulatorServer) -> None:
    emulator.seed_realm("4620816365000000116")
    issued = emulator.add_realm()
    emulator.auth_client(issued).revoke()
    assert_401(
        quickbooks_client(
            emulator.base_url, "4620816365000000116", access_token=issued.access_token
        )
    )
