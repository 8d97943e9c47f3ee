"""Full import: paged, active and inactive alike, on connect and on refresh; never twice the same
version; resumable after a failure mid-way."""

from __future__ import annotations

from qb_sync.domain.tokens import Grant
from qb_sync.store.connections import save_connection
from qbo_emulator.testing import EmulatorServer

from .conftest import PullTenant, eventually


def seed(emu: EmulatorServer, realm_id: str, count: int, inactive_every: int = 0) -> list[dict]:
    emu.seed_realm(realm_id)
    records = [
        {
            "DisplayName": f"Import {realm_id} #{i:05d}",
            **({"Active": False} if inactive_every and i % inactive_every == 0 else {}),
        }
        for i in range(count)
    ]
    return emu.seed(realm_id, "customers", records)


def query_calls(emu: EmulatorServer, realm_id: str) -> int:
    return sum(1 for r in emu.requests() if f"/company/{realm_id}/query" in r.get("path", ""))


async def test_connect_imports_every_customer_active_and_inactive_in_pages_of_1000(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    created = seed(emulator, pull_tenant.realm_id, 2_050, inactive_every=10)
    inactive = {c["Id"] for c in created if c.get("Active") is False}
    assert len(inactive) == 205

    await pull_tenant.connect()
    status = await pull_tenant.wait_import_done()

    events = await pull_tenant.mirrored()
    by_id = {e["data"]["qb_customer_id"]: e["data"] for e in events}
    assert set(by_id) == {c["Id"] for c in created}
    assert len(events) == 2_050  # each customer exactly once
    assert {i for i, d in by_id.items() if d["active"] is False} == inactive
    assert all(
        e["subject"] == f"{pull_tenant.realm_id}:{e['data']['qb_customer_id']}" for e in events
    )
    assert status["import_seen"] == 2_050
    assert query_calls(emulator, pull_tenant.realm_id) == 3  # 1000 + 1000 + 50


async def test_refresh_twice_publishes_nothing_new(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    seed(emulator, pull_tenant.realm_id, 30)
    await pull_tenant.connect()
    first = await pull_tenant.wait_import_done()
    assert len(await pull_tenant.mirrored()) == 30

    for _ in range(2):
        before = (await pull_tenant.pull_status())["import_finished_at"]
        reply = await pull_tenant.client.post(
            f"/quickbooks/connections/{pull_tenant.realm_id}/refresh"
        )
        assert reply.status_code == 202, reply.text

        async def finished_again(before: str = before) -> bool:
            status = await pull_tenant.pull_status()
            return not status["import_pending"] and status["import_finished_at"] != before

        await eventually(finished_again)

    assert len(await pull_tenant.mirrored()) == 30  # versions already seen are skipped
    assert first["import_seen"] == 30


async def test_refresh_of_an_unconnected_company_is_404(pull_tenant: PullTenant) -> None:
    reply = await pull_tenant.client.post("/quickbooks/connections/424242/refresh")
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "not_found"


async def test_an_import_killed_after_its_first_page_resumes_after_that_page(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    created = seed(emulator, pull_tenant.realm_id, 1_500)
    ids = sorted((c["Id"] for c in created), key=int)
    pull = pull_tenant.app.state.pull
    # The state a pass leaves when the process dies right after committing page 1.
    async with pull_tenant.db.acquire() as conn, conn.transaction():
        await save_connection(
            conn,
            pull.cipher,
            pull_tenant.tenant_id,
            pull_tenant.realm_id,
            Grant(emulator.add_realm(pull_tenant.realm_id).access_token, None, None, None),
        )
        await conn.execute(
            """INSERT INTO pull_state (tenant_id, realm_id, import_requested_at,
                   import_started_at, import_after_id, import_seen)
               VALUES ($1, $2, now() - interval '1 minute', now(), $3, 1000)""",
            pull_tenant.tenant_id,
            pull_tenant.realm_id,
            int(ids[999]),
        )
    pull.wake()

    status = await pull_tenant.wait_import_done()

    assert query_calls(emulator, pull_tenant.realm_id) == 1  # only the pages after the cursor
    assert [e["data"]["qb_customer_id"] for e in await pull_tenant.mirrored()] == ids[1000:]
    assert status["import_seen"] == 1_500
