"""Connecting a QuickBooks company: the emulator's direct connect (real tokens the emulator
issues), Intuit's authorization-code flow (URL + callback with a one-time state), one tenant per
company, disconnect."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from fastapi import FastAPI
from quickbooks.exceptions import AuthorizationException

from platform_kit.auth import create_token
from qbo_emulator.testing import EmulatorServer, quickbooks_client

from .conftest import TENANT_PREFIX, PullTenant, client_for


async def test_emulator_connect_lists_the_company_without_its_tokens(
    pull_tenant: PullTenant,
) -> None:
    reply = await pull_tenant.connect(access_token="secret-access", refresh_token="secret-refresh")
    assert reply.json()["status"] == "connected"

    listed = await pull_tenant.client.get("/quickbooks/connections")
    assert listed.status_code == 200
    assert [c["realm_id"] for c in listed.json()["connections"]] == [pull_tenant.realm_id]
    assert "secret" not in listed.text


async def test_a_company_connected_to_one_tenant_cannot_be_taken_by_another(
    qbsync_app: FastAPI, pull_tenant: PullTenant
) -> None:
    await pull_tenant.connect()
    token = await create_token(qbsync_app.state.runtime.db, f"{TENANT_PREFIX}other", ["admin"])
    async with client_for(qbsync_app, token) as other:
        reply = await other.post("/quickbooks/connections", json={"realm_id": pull_tenant.realm_id})
    assert reply.status_code == 409
    assert reply.json()["error"]["code"] == "realm_taken"


async def test_connect_needs_the_admin_scope_and_a_valid_realm_id(
    qbsync_app: FastAPI, pull_tenant: PullTenant
) -> None:
    token = await create_token(qbsync_app.state.runtime.db, pull_tenant.tenant_id, ["write"])
    async with client_for(qbsync_app, token) as writer:
        reply = await writer.post("/quickbooks/connections", json={"realm_id": "123"})
    assert reply.status_code == 403
    reply = await pull_tenant.client.post("/quickbooks/connections", json={"realm_id": "a b"})
    assert reply.status_code == 422


async def test_the_authorization_flow_builds_intuits_url_and_the_state_is_single_use(
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
    state = reply.json()["state"]
    assert query["state"] == [state]

    callback = "/quickbooks/connections/callback"
    bogus = await pull_tenant.client.get(
        callback, params={"code": "c", "state": "nope", "realmId": "1"}
    )
    assert bogus.status_code == 400
    assert bogus.json()["error"]["code"] == "bad_state"
    # The emulator has no authorization-code grant, so the exchange itself is refused upstream.
    first = await pull_tenant.client.get(
        callback, params={"code": "c", "state": state, "realmId": pull_tenant.realm_id}
    )
    assert first.status_code == 502
    again = await pull_tenant.client.get(
        callback, params={"code": "c", "state": state, "realmId": pull_tenant.realm_id}
    )
    assert again.status_code == 400  # a state works once


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


async def test_connecting_the_emulator_stores_tokens_it_issued_and_nothing_else_gets_in(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    emulator.seed_realm(pull_tenant.realm_id, customers=[f"Strict {pull_tenant.realm_id}"])
    await pull_tenant.connect()  # no tokens given: the emulator authorizes and issues them
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
