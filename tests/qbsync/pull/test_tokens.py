"""OAuth tokens: encrypted at rest, refreshed once when QuickBooks rejects an expired access token
(even with concurrent callers, in one process or several), the rotated refresh token persisted,
and `invalid_grant` turning the connection to `reauth_required`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from qb_sync.qbo.errors import ReauthRequired
from qb_sync.usecases import pull_realm
from qb_sync.usecases.stored_tokens import StoredCredentials
from qbo_emulator.testing import EmulatorServer

from .conftest import PullTenant, eventually


def token_calls(emu: EmulatorServer) -> int:
    """Refreshes the emulator's token endpoint granted (tests run one at a time)."""
    return int(emu.state()["counters"].get("token_refreshes", 0))


async def stored_row(tenant: PullTenant) -> dict:
    row = await tenant.db.fetchrow(
        "SELECT * FROM qb_connections WHERE tenant_id = $1 AND realm_id = $2",
        tenant.tenant_id,
        tenant.realm_id,
    )
    assert row is not None
    return dict(row)


def assert_no_plaintext(row: dict, *secrets: str) -> None:
    raw = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row.values())
    for secret in secrets:
        assert secret.encode() not in raw


async def stored_tokens(tenant: PullTenant) -> tuple[str, str]:
    """The (access, refresh) pair qb-sync holds for the company, decrypted."""
    row = await stored_row(tenant)
    cipher = tenant.app.state.pull.cipher
    return cipher.decrypt(row["access_token_enc"]), cipher.decrypt(row["refresh_token_enc"])


async def connect_with_issued_tokens(
    emu: EmulatorServer, tenant: PullTenant, count: int
) -> tuple[str, str]:
    emu.seed_realm(
        tenant.realm_id, customers=[f"Token {tenant.realm_id} #{i}" for i in range(count)]
    )
    await tenant.connect()  # consent + code exchange: the realm now accepts only issued tokens
    await tenant.wait_import_done()
    return await stored_tokens(tenant)


async def test_token_expiry_mid_run_refreshes_once_and_persists_the_rotated_token_encrypted(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    access, refresh = await connect_with_issued_tokens(emulator, pull_tenant, 3)
    row = await stored_row(pull_tenant)
    assert_no_plaintext(row, access, refresh)
    calls_before = token_calls(emulator)

    emulator.expire_tokens(pull_tenant.realm_id)
    emulator.edit_customer(pull_tenant.realm_id, "1", CompanyName="After expiry")
    reply = await pull_tenant.client.post(f"/quickbooks/connections/{pull_tenant.realm_id}/refresh")
    assert reply.status_code == 202
    await eventually(lambda: _has_company(pull_tenant, "After expiry"))

    assert token_calls(emulator) == calls_before + 1  # exactly one refresh
    row = await stored_row(pull_tenant)
    assert row["status"] == "connected"
    assert row["token_version"] >= 1
    creds: StoredCredentials = pull_tenant.app.state.pull.credentials
    now_stored = await creds.tokens(pull_tenant.tenant_id, pull_tenant.realm_id)
    assert now_stored.access_token != access
    assert_no_plaintext(row, access, refresh, now_stored.access_token)
    # The rotated refresh token is the one stored: the old one is dead at the emulator.
    stored_refresh = pull_tenant.app.state.pull.cipher.decrypt(row["refresh_token_enc"])
    assert stored_refresh != refresh
    assert_no_plaintext(row, stored_refresh)


async def _has_company(tenant: PullTenant, company: str) -> bool:
    return any(e["data"]["company_name"] == company for e in await tenant.mirrored())


async def test_concurrent_callers_in_two_processes_share_one_refresh(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    access, _ = await connect_with_issued_tokens(emulator, pull_tenant, 1)
    pull = pull_tenant.app.state.pull
    # A second StoredCredentials stands for another qb-sync process: it shares only the database.
    other = StoredCredentials(pull_tenant.db, pull.cipher, pull.oauth)
    mine: StoredCredentials = pull.credentials
    calls_before = token_calls(emulator)
    emulator.expire_tokens(pull_tenant.realm_id)

    results = await asyncio.gather(
        mine.refreshed(pull_tenant.tenant_id, pull_tenant.realm_id, access),
        mine.refreshed(pull_tenant.tenant_id, pull_tenant.realm_id, access),
        other.refreshed(pull_tenant.tenant_id, pull_tenant.realm_id, access),
        other.refreshed(pull_tenant.tenant_id, pull_tenant.realm_id, access),
    )

    assert token_calls(emulator) == calls_before + 1
    assert len({r.access_token for r in results}) == 1
    assert results[0].access_token != access


async def test_a_dead_refresh_token_marks_the_connection_reauth_required(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    access, _ = await connect_with_issued_tokens(emulator, pull_tenant, 1)
    emulator.admin("POST", "/tokens/revoke", {"realm_id": pull_tenant.realm_id})
    creds: StoredCredentials = pull_tenant.app.state.pull.credentials

    with pytest.raises(ReauthRequired):
        await creds.refreshed(pull_tenant.tenant_id, pull_tenant.realm_id, access)

    row = await stored_row(pull_tenant)
    assert row["status"] == "reauth_required"
    assert "invalid_grant" in row["last_error"]
    with pytest.raises(ReauthRequired):  # fails fast from now on, no call to Intuit
        await creds.tokens(pull_tenant.tenant_id, pull_tenant.realm_id)
    listed = (await pull_tenant.client.get("/quickbooks/connections")).json()["connections"]
    assert [(c["realm_id"], c["status"]) for c in listed] == [
        (pull_tenant.realm_id, "reauth_required")
    ]


async def test_a_token_close_to_expiry_is_refreshed_before_use(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    access, _ = await connect_with_issued_tokens(emulator, pull_tenant, 1)
    await pull_tenant.db.execute(
        """UPDATE qb_connections SET access_expires_at = now() + interval '2 minutes'
            WHERE tenant_id = $1 AND realm_id = $2""",
        pull_tenant.tenant_id,
        pull_tenant.realm_id,
    )
    creds: StoredCredentials = pull_tenant.app.state.pull.credentials
    calls_before = token_calls(emulator)

    tokens = await creds.tokens(pull_tenant.tenant_id, pull_tenant.realm_id)

    assert tokens.access_token != access
    assert token_calls(emulator) == calls_before + 1


async def test_tokens_expiring_in_the_middle_of_an_import_cost_one_refresh_and_no_customer(
    emulator: EmulatorServer, pull_tenant: PullTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.seed_realm(
        pull_tenant.realm_id, customers=[f"Mid {pull_tenant.realm_id} #{i}" for i in range(2_000)]
    )
    calls_before = token_calls(emulator)

    async def first_page_committed() -> bool:
        status = await pull_tenant.pull_status()
        return bool(status["import_seen"])

    # The access token dies at a page boundary, not at a moment left to the clock: the import
    # reads page 2 while it commits page 1 (pipelined), so page 2's read waits for that commit,
    # then the emulator expires the tokens, then the read goes out and is refused with a 401.
    reads = 0
    read_page = pull_realm.read_page

    async def read_after_expiry(
        gateway: Any, tenant_id: str, realm_id: str, *args: Any, **kwargs: Any
    ) -> Any:
        nonlocal reads
        if realm_id == pull_tenant.realm_id:
            reads += 1
            if reads == 2:
                await eventually(first_page_committed, interval=0.02)
                await asyncio.to_thread(emulator.expire_tokens, realm_id)
        return await read_page(gateway, tenant_id, realm_id, *args, **kwargs)

    monkeypatch.setattr(pull_realm, "read_page", read_after_expiry)
    await pull_tenant.connect()
    await pull_tenant.wait_import_done()
    assert reads >= 3, reads  # pages 1 and 2 of 1,000, then the empty page: mid-import

    ids = [e["data"]["qb_customer_id"] for e in await pull_tenant.mirrored()]
    assert len(ids) == len(set(ids)) == 2_000
    assert token_calls(emulator) == calls_before + 1
