"""Connecting a QuickBooks company. One flow for the emulator and real QuickBooks: the
authorization URL with a one-time state, the consent page, the callback that exchanges the code
(here against the emulator's consent page and authorization_code grant); the emulator
convenience `POST /quickbooks/connections` runs that same flow. One tenant per company,
disconnect."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from fastapi import FastAPI
from quickbooks.exceptions import AuthorizationException

from platform_kit.auth import create_token
from qb_sync.app import create_app
from qb_sync.settings import Settings
from qbo_emulator.testing import EmulatorServer, consent, quickbooks_client

from .conftest import TENANT_PREFIX, PullTenant, client_for, eventually


def counter(emu: EmulatorServer, name: str) -> int:
    return int(emu.state()["counters"].get(name, 0))


async def test_emulator_connect_lists_the_company_without_its_tokens(
    pull_tenant: PullTenant,
) -> None:
    reply = await pull_tenant.connect()
    assert reply.json()["status"] == "connected"

    listed = await pull_tenant.client.get("/quickbooks/connections")
    assert listed.status_code == 200
    assert [c["realm_id"] for c in listed.json()["connections"]] == [pull_tenant.realm_id]
    creds = pull_tenant.app.state.pull.credentials
    stored = await creds.tokens(pull_tenant.tenant_id, pull_tenant.realm_id)
    assert stored.access_token not in listed.text and "token" not in listed.text


async def test_a_company_connected_to_one_tenant_cannot_be_taken_by_another(
    qbsync_app: FastAPI, pull_tenant: PullTenant
) -> None:
    await pull_tenant.connect()
    token = await create_token(qbsync_app.state.runtime.db, f"{TENANT_PREFIX}other", ["admin"])
    async with client_for(qbsync_app, token) as other:
        reply = await other.post("/quickbooks/connections", json={"realm_id": pull_tenant.realm_id})
    assert reply.status_code == 409
    assert reply.json()["error"]["code"] == "realm_unavailable"
    assert "tenant" not in reply.text  # who holds it is not the caller's to learn


async def test_connect_needs_the_admin_scope_and_a_valid_realm_id(
    qbsync_app: FastAPI, pull_tenant: PullTenant
) -> None:
    token = await create_token(qbsync_app.state.runtime.db, pull_tenant.tenant_id, ["write"])
    async with client_for(qbsync_app, token) as writer:
        reply = await writer.post("/quickbooks/connections", json={"realm_id": "123"})
    assert reply.status_code == 403
    reply = await pull_tenant.client.post("/quickbooks/connections", json={"realm_id": "a b"})
    assert reply.status_code == 422
    # Tokens cannot be handed in: qb-sync holds only what a code exchange gave it.
    reply = await pull_tenant.client.post(
        "/quickbooks/connections", json={"realm_id": "123", "access_token": "made-up"}
    )
    assert reply.status_code == 422


async def test_the_authorization_url_is_intuits_and_a_refused_code_spends_the_state(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    reply = await pull_tenant.client.get("/quickbooks/connections/authorize")
    assert reply.status_code == 200, reply.text
    url = urlparse(reply.json()["authorization_url"])
    query = parse_qs(url.query)
    assert url.path == "/connect/oauth2"  # the discovery document's authorization endpoint
    assert query["client_id"] == ["emulator-client-id"]
    assert query["scope"] == ["com.intuit.quickbooks.accounting"]
    assert query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["http://localhost:8003/quickbooks/connections/callback"]
    state = reply.json()["state"]
    assert query["state"] == [state]

    callback = "/quickbooks/connections/callback"
    params = {"code": "AB11-made-up", "state": state, "realmId": pull_tenant.realm_id}
    first = await pull_tenant.client.get(callback, params=params)
    assert first.status_code == 400  # the emulator's token endpoint refuses the code
    assert first.json()["error"]["code"] == "invalid_grant"
    assert "Incorrect or invalid authorization code" in first.json()["error"]["message"]
    again = await pull_tenant.client.get(callback, params=params)
    assert again.status_code == 400  # a state works once
    assert again.json()["error"]["code"] == "bad_state"


async def test_after_disconnect_webhooks_for_the_company_are_ignored(
    pull_tenant: PullTenant,
) -> None:
    from qbo_emulator.webhooks import legacy_payload

    from .test_webhooks import notification, post_webhook

    await pull_tenant.connect()
    reply = await pull_tenant.client.delete(f"/quickbooks/connections/{pull_tenant.realm_id}")
    assert reply.status_code == 200
    reply = await post_webhook(pull_tenant, legacy_payload(notification(pull_tenant.realm_id, "1")))
    assert reply.json() == {"queued": 0, "ignored": 1}


async def test_the_emulator_convenience_connects_through_consent_and_code_exchange(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    emulator.seed_realm(pull_tenant.realm_id, customers=[f"Strict {pull_tenant.realm_id}"])
    consents, exchanges = counter(emulator, "authorizations"), counter(emulator, "codes_exchanged")
    await pull_tenant.connect()
    assert counter(emulator, "authorizations") == consents + 1  # the consent page was used ...
    assert counter(emulator, "codes_exchanged") == exchanges + 1  # ... and its code exchanged
    left = await pull_tenant.db.fetchval(
        "SELECT count(*) FROM qb_oauth_states WHERE tenant_id = $1", pull_tenant.tenant_id
    )
    assert left == 0  # the state was spent by the callback logic
    status = await pull_tenant.wait_import_done()
    assert status["import_seen"] == 1  # the import ran on the stored tokens

    creds = pull_tenant.app.state.pull.credentials
    stored = await creds.tokens(pull_tenant.tenant_id, pull_tenant.realm_id)
    assert stored.expires_at is not None  # a real grant, with its lifetime
    placeholder = quickbooks_client(emulator.base_url, pull_tenant.realm_id)
    with pytest.raises(AuthorizationException):  # the company now refuses any other bearer
        placeholder.query("SELECT * FROM Customer")
    issued = quickbooks_client(
        emulator.base_url, pull_tenant.realm_id, access_token=stored.access_token
    )
    assert issued.query("SELECT * FROM Customer")["QueryResponse"]["Customer"]


# -- end to end: a browser between qb-sync and a strict emulator ------------------------------

CALLBACK = "http://qb-sync.test/quickbooks/connections/callback"
E2E_PREFIX = f"oauth-{uuid.uuid4().hex[:6]}-"  # not TENANT_PREFIX: the session app leaves these


@pytest.fixture(scope="module")
def strict_emulator() -> Iterator[EmulatorServer]:
    """QuickBooks' own rules: only issued tokens, only the registered redirect URI."""
    with EmulatorServer(permissive=False, settings={"redirect_uris": [CALLBACK]}) as emu:
        yield emu


@pytest.fixture(scope="module")
async def strict_app(
    stack_env: dict[str, str], strict_emulator: EmulatorServer
) -> AsyncIterator[FastAPI]:
    app = create_app(
        Settings(
            database_url=stack_env["DATABASE_URL"],
            kafka_bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
            qbo_base_url=strict_emulator.base_url,
            qbo_redirect_uri=CALLBACK,
            pull_tick_seconds=0.1,
            pull_cdc_interval_seconds=3600,
            push_enabled=False,
            push_tenant_prefix=E2E_PREFIX,
            pull_tenant_prefix=E2E_PREFIX,
        )
    )
    async with app.router.lifespan_context(app):
        yield app


class Browser:
    """A user of one tenant: qb-sync's API with an admin token, the emulator's consent page, and
    qb-sync's callback reached without a bearer, as a redirected browser reaches it."""

    def __init__(
        self, app: FastAPI, emulator: EmulatorServer, tenant_id: str, api: httpx.AsyncClient
    ):
        self.app, self.emulator, self.tenant_id, self.api = app, emulator, tenant_id, api
        self.realm_id = str(4_000_000_000 + uuid.uuid4().int % 1_000_000_000)
        self.anonymous = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://qb-sync.test"
        )

    async def consent_redirect(self, *, deny: bool = False) -> str:
        """GET authorize, open the URL on the emulator, press Connect: the callback URL."""
        reply = await self.api.get("/quickbooks/connections/authorize")
        assert reply.status_code == 200, reply.text
        url = reply.json()["authorization_url"]
        assert url.startswith(f"{self.emulator.base_url}/connect/oauth2?")
        location = await asyncio.to_thread(consent, url, realm_id=self.realm_id, deny=deny)
        assert location.startswith(CALLBACK + "?")
        return location

    async def follow(self, location: str) -> httpx.Response:
        return await self.anonymous.get(location)

    async def row(self) -> dict[str, object] | None:
        row = await self.app.state.runtime.db.fetchrow(
            "SELECT * FROM qb_connections WHERE tenant_id = $1 AND realm_id = $2",
            self.tenant_id,
            self.realm_id,
        )
        return None if row is None else dict(row)


@pytest.fixture
async def browser(strict_app: FastAPI, strict_emulator: EmulatorServer) -> AsyncIterator[Browser]:
    tenant_id = f"{E2E_PREFIX}{uuid.uuid4().hex[:10]}"
    token = await create_token(strict_app.state.runtime.db, tenant_id, ["read", "admin"])
    async with client_for(strict_app, token) as api:
        user = Browser(strict_app, strict_emulator, tenant_id, api)
        async with user.anonymous:
            yield user


async def test_connect_end_to_end_then_the_pull_reads_with_the_issued_token(
    browser: Browser, strict_emulator: EmulatorServer
) -> None:
    names = [f"E2E {browser.realm_id} {n}" for n in ("Ada", "Grace")]
    strict_emulator.seed_realm(browser.realm_id, customers=names)  # strict company, no tokens

    location = await browser.consent_redirect()
    done = await browser.follow(location)

    assert done.status_code == 200, done.text
    assert done.json() == {"realm_id": browser.realm_id, "status": "connected"}
    row = await browser.row()
    assert row is not None and row["status"] == "connected"
    cipher = browser.app.state.pull.cipher
    access = cipher.decrypt(row["access_token_enc"])
    refresh = cipher.decrypt(row["refresh_token_enc"])
    raw = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row.values())
    assert access.encode() not in raw and refresh.encode() not in raw  # encrypted at rest
    queued = await browser.app.state.runtime.db.fetchval(
        "SELECT count(*) FROM pull_state WHERE tenant_id = $1 AND realm_id = $2",
        browser.tenant_id,
        browser.realm_id,
    )
    assert queued == 1  # the import was queued with the connection

    async def imported() -> dict[str, object] | None:
        reply = await browser.api.get(f"/quickbooks/connections/{browser.realm_id}/pull")
        status = reply.json()
        return status if status["import_finished_at"] and not status["import_pending"] else None

    status = await eventually(imported)
    assert status["import_seen"] == 2  # read from a company that accepts only issued tokens
    issued = quickbooks_client(strict_emulator.base_url, browser.realm_id, access_token=access)
    assert len(issued.query("SELECT * FROM Customer")["QueryResponse"]["Customer"]) == 2
    with pytest.raises(AuthorizationException):
        quickbooks_client(strict_emulator.base_url, browser.realm_id).query(
            "SELECT * FROM Customer"
        )


async def test_a_replayed_callback_is_refused_and_changes_nothing(
    browser: Browser, strict_emulator: EmulatorServer
) -> None:
    strict_emulator.seed_realm(browser.realm_id, customers=[f"Replay {browser.realm_id}"])
    location = await browser.consent_redirect()
    assert (await browser.follow(location)).status_code == 200
    before = await browser.row()
    exchanges, refusals = (
        counter(strict_emulator, "codes_exchanged"),
        counter(strict_emulator, "invalid_grant"),
    )

    replay = await browser.follow(location)

    assert replay.status_code == 400
    assert replay.json()["error"]["code"] == "bad_state"
    assert "already used" in replay.json()["error"]["message"]
    assert await browser.row() == before  # same tokens, same version
    # The code never went back to the emulator (a second exchange would revoke the tokens) ...
    assert counter(strict_emulator, "codes_exchanged") == exchanges
    assert counter(strict_emulator, "invalid_grant") == refusals
    # ... so the stored token still works.
    assert before is not None
    access = browser.app.state.pull.cipher.decrypt(before["access_token_enc"])
    issued = quickbooks_client(strict_emulator.base_url, browser.realm_id, access_token=access)
    assert len(issued.query("SELECT * FROM Customer")["QueryResponse"]["Customer"]) == 1


async def test_a_callback_with_a_wrong_state_is_refused_before_the_code_is_used(
    browser: Browser, strict_emulator: EmulatorServer
) -> None:
    location = await browser.consent_redirect()
    base, _, query = location.partition("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    exchanges = counter(strict_emulator, "codes_exchanged")

    forged = await browser.follow(f"{base}?{urlencode({**params, 'state': 'forged'})}")

    assert forged.status_code == 400
    assert forged.json()["error"]["code"] == "bad_state"
    assert await browser.row() is None
    assert counter(strict_emulator, "codes_exchanged") == exchanges  # the code was not spent
    genuine = await browser.follow(location)  # nor was the real state
    assert genuine.status_code == 200, genuine.text


async def test_a_user_who_cancels_on_the_consent_page_gets_a_clear_refusal(
    browser: Browser,
) -> None:
    location = await browser.consent_redirect(deny=True)
    assert parse_qs(urlparse(location).query)["error"] == ["access_denied"]

    refused = await browser.follow(location)

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "authorization_refused"
    assert "access_denied" in refused.json()["error"]["message"]
    assert await browser.row() is None
    left = await browser.app.state.runtime.db.fetchval(
        "SELECT count(*) FROM qb_oauth_states WHERE tenant_id = $1", browser.tenant_id
    )
    assert left == 0  # the state is spent: the flow starts again from authorize
