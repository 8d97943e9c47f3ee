"""OAuth (docs/reference/quickbooks-online.md#oauth-tokens) through intuit-oauth's AuthClient and
python-quickbooks: refresh and revoke, and the authorization-code flow (consent page, code
exchange)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
import requests
from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError
from quickbooks.exceptions import AuthorizationException, QuickbooksException
from quickbooks.objects.customer import Customer

from qbo_emulator.testing import (
    EmulatorServer,
    RealmTokens,
    consent,
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


REDIRECT = "http://localhost/callback"  # make_auth_client's redirect_uri
OTHER_REDIRECT = "http://localhost/other-callback"


@pytest.fixture(scope="module")
def strict() -> Iterator[EmulatorServer]:
    """A server with the emulator's own (strict) authentication, as QuickBooks has, and the
    app's redirect URIs registered (QuickBooks redirects to registered ones only)."""
    with EmulatorServer(
        permissive=False, settings={"redirect_uris": [REDIRECT, OTHER_REDIRECT]}
    ) as server:
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


# -- authorization-code flow (the consent page and the authorization_code grant) --------------


def callback_params(location: str, redirect_uri: str = REDIRECT) -> dict[str, str]:
    """The query of the redirect to the app; fails unless it goes to `redirect_uri`."""
    base, _, query = location.partition("?")
    assert base == redirect_uri
    return {k: v[0] for k, v in parse_qs(query).items()}


def authorize(server: EmulatorServer, state: str = "state-1", **consent_args: Any) -> Any:
    """(client, callback params): an AuthClient and what the consent page sent back to it."""
    client = make_auth_client(server.base_url)
    url = client.get_authorization_url([Scopes.ACCOUNTING], state_token=state)
    return client, callback_params(consent(url, **consent_args))


def invalid_grant(exc: pytest.ExceptionInfo[AuthClientError]) -> str:
    """The error_description of a 400 invalid_grant answer (fails on any other answer)."""
    assert type(exc.value) is AuthClientError and exc.value.status_code == 400
    body = json.loads(exc.value.content)
    assert body["error"] == "invalid_grant"
    return str(body["error_description"])


def test_auth_client_connects_a_company_through_consent_and_code_exchange(
    strict: EmulatorServer,
) -> None:
    strict.seed_realm("4620816365000000201", customers=["Consent Co"])  # strict, no tokens yet
    client, params = authorize(strict, "csrf-201", realm_id="4620816365000000201")
    assert params["state"] == "csrf-201" and params["realmId"] == "4620816365000000201"
    assert set(params) == {"code", "state", "realmId"}

    client.get_bearer_token(params["code"], realm_id=params["realmId"])
    assert client.expires_in == 3600 and client.x_refresh_token_expires_in == 8726400
    qb = make_quickbooks(strict.base_url, "4620816365000000201", auth_client=client)
    assert Customer.count(qb=qb) == 1  # the issued access token works on the strict company
    first_access = client.access_token
    client.refresh()  # and the issued refresh token rotates like any other
    assert client.access_token != first_access
    fresh = make_quickbooks(strict.base_url, "4620816365000000201", auth_client=client)
    assert Customer.count(qb=fresh) == 1


def test_a_code_works_once_and_replaying_it_revokes_what_it_gave(strict: EmulatorServer) -> None:
    first, params = authorize(strict, realm_id="4620816365000000202")
    first.get_bearer_token(params["code"])
    other, other_params = authorize(strict, realm_id="4620816365000000202")
    other.get_bearer_token(other_params["code"])  # a second, separate connection of the company

    with pytest.raises(AuthClientError) as replay:
        make_auth_client(strict.base_url).get_bearer_token(params["code"])
    assert invalid_grant(replay) == "Authorization code has already been used"
    # The replay kills the tokens that code gave (a stolen code is worth nothing) ...
    assert_401(make_quickbooks(strict.base_url, "4620816365000000202", auth_client=first))
    with pytest.raises(AuthClientError) as refresh:
        first.refresh()
    assert invalid_grant(refresh) == "Incorrect or invalid refresh token"
    # ... and only those: the other authorization of the company is untouched.
    qb = make_quickbooks(strict.base_url, "4620816365000000202", auth_client=other)
    assert Customer.count(qb=qb) == 0


def test_a_code_expires_after_five_minutes(strict: EmulatorServer) -> None:
    on_time, on_time_params = authorize(strict, realm_id="4620816365000000203")
    late, late_params = authorize(strict, realm_id="4620816365000000203")
    try:
        strict.configure(clock_offset_seconds=299)
        on_time.get_bearer_token(on_time_params["code"])
        strict.configure(clock_offset_seconds=301)
        with pytest.raises(AuthClientError) as exc:
            late.get_bearer_token(late_params["code"])
    finally:
        strict.configure(clock_offset_seconds=0)
    assert invalid_grant(exc) == "Authorization code has expired"
    assert late.access_token is None


def test_the_exchange_needs_the_redirect_uri_of_the_authorization_request(
    strict: EmulatorServer,
) -> None:
    client, params = authorize(strict, realm_id="4620816365000000204")
    elsewhere = make_auth_client(strict.base_url, redirect_uri=OTHER_REDIRECT)
    with pytest.raises(AuthClientError) as exc:
        elsewhere.get_bearer_token(params["code"])
    assert invalid_grant(exc) == (
        "redirect_uri does not match the one of the authorization request"
    )
    client.get_bearer_token(params["code"])  # the mismatch did not use the code up
    assert client.access_token


def test_an_unknown_code_and_a_wrong_client_secret_are_refused(strict: EmulatorServer) -> None:
    with pytest.raises(AuthClientError) as unknown:
        make_auth_client(strict.base_url).get_bearer_token("AB11-made-up")
    assert invalid_grant(unknown) == "Incorrect or invalid authorization code"
    _, params = authorize(strict, realm_id="4620816365000000205")
    with pytest.raises(AuthClientError) as secret:
        make_auth_client(strict.base_url, client_secret="nope").get_bearer_token(params["code"])
    assert secret.value.status_code == 401
    assert json.loads(secret.value.content) == {"error": "invalid_client"}


@pytest.mark.parametrize(
    ("client_args", "status", "error"),
    [
        ({"client_id": "someone-else"}, 400, "invalid_client"),
        ({"redirect_uri": "http://attacker.example/callback"}, 400, "invalid_request"),
    ],
)
def test_the_consent_page_never_redirects_to_an_unknown_app_or_an_unregistered_uri(
    strict: EmulatorServer, client_args: dict[str, str], status: int, error: str
) -> None:
    url = make_auth_client(strict.base_url, **client_args).get_authorization_url(
        [Scopes.ACCOUNTING], state_token="s"
    )
    reply = requests.get(url, allow_redirects=False, timeout=10)
    assert reply.status_code == status and "location" not in reply.headers
    assert reply.json()["error"] == error


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"scope": "com.intuit.quickbooks.payment"}, "invalid_scope"),
        ({"scope": "com.intuit.quickbooks.accounting made.up"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"realm_id": "not a realm"}, "invalid_request"),
        ({"consent": "deny"}, "access_denied"),
    ],
)
def test_bad_authorization_requests_go_back_to_the_app_with_the_error_and_the_state(
    strict: EmulatorServer, change: dict[str, str], error: str
) -> None:
    url = make_auth_client(strict.base_url).get_authorization_url(
        [Scopes.ACCOUNTING], state_token="keep-me"
    )
    base, _, query = url.partition("?")
    args = {**{k: v[0] for k, v in parse_qs(query).items()}, **change}
    realms_before = set(strict.state()["realms"])
    params = callback_params(consent(f"{base}?{urlencode(args)}"))
    assert params["error"] == error and params["state"] == "keep-me"
    assert "code" not in params and "realmId" not in params
    assert set(strict.state()["realms"]) == realms_before  # no company was connected


def test_an_authorization_request_without_state_is_refused(strict: EmulatorServer) -> None:
    url = make_auth_client(strict.base_url).get_authorization_url([Scopes.ACCOUNTING])
    base, _, query = url.partition("?")
    args = {k: v[0] for k, v in parse_qs(query).items() if k != "state"}
    params = callback_params(consent(f"{base}?{urlencode(args)}"))
    assert params == {"error": "invalid_request", "error_description": "state is required"}


def test_without_a_company_named_the_default_one_or_a_new_one_is_connected(
    strict: EmulatorServer,
) -> None:
    try:
        strict.configure(default_realm_id="4620816365000000206")
        _, params = authorize(strict)
        assert params["realmId"] == "4620816365000000206"
    finally:
        strict.configure(default_realm_id=None)
    client, params = authorize(strict)
    new_realm = params["realmId"]
    assert new_realm not in {"4620816365000000206", ""}
    assert strict.state()["realms"][new_realm]["name"] == f"Emulated Company {new_realm}"
    assert_401(quickbooks_client(strict.base_url, new_realm))  # a strict company: no any-bearer
    client.get_bearer_token(params["code"])
    assert Customer.count(qb=make_quickbooks(strict.base_url, new_realm, auth_client=client)) == 0
