"""A tenant's admin lists its QuickBooks Desktop connections: the company file, the last Web
Connector session and the requests waiting, uncertain or failed; never the password hash, and
never another tenant's connections."""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg
import httpx
import pytest

from platform_kit.auth import create_token
from qbd_simulator.company import CompanyFile
from qbd_simulator.connector import WebConnector
from qbd_simulator.qwc import read_qwc
from tests.qbd.conftest import Endpoint

pytestmark = pytest.mark.integration


async def test_the_list_shows_each_connections_session_and_queue(
    endpoint: Endpoint, db: asyncpg.Pool
) -> None:
    base = endpoint.url.removesuffix("/qbwc")
    admin_a = {"Authorization": "Bearer " + await create_token(db, "tenant-list-a", ["admin"])}
    admin_b = {"Authorization": "Bearer " + await create_token(db, "tenant-list-b", ["admin"])}
    async with httpx.AsyncClient(base_url=base) as client:
        created = (await client.post("/quickbooks-desktop/connections", headers=admin_a)).json()
        listed = await client.get("/quickbooks-desktop/connections", headers=admin_a)
        assert listed.status_code == 200, listed.text
        [row] = listed.json()["connections"]
        assert row["connection_id"] == created["connection_id"]
        assert (row["username"], row["file_id"]) == (created["username"], created["file_id"])
        assert row["last_session"] is None  # the Web Connector has not called yet
        assert row["requests"] == {"queued": 0, "uncertain": 0, "failed": 0}
        stored_hash = await db.fetchval(
            "SELECT password_hash FROM qbd_connections WHERE username = $1", created["username"]
        )
        assert stored_hash not in listed.text and "password" not in listed.text

        other = await client.get("/quickbooks-desktop/connections", headers=admin_b)
        assert other.json() == {"connections": []}
        assert (await client.get("/quickbooks-desktop/connections")).status_code == 401

        refresh = created["qwc_url"].removesuffix("/qwc") + "/refresh"
        assert (await client.post(refresh, headers=admin_a)).status_code == 202
        queued = (await client.get("/quickbooks-desktop/connections", headers=admin_a)).json()
        assert queued["connections"][0]["requests"]["queued"] == 1
        qwc = read_qwc((await client.get(created["qwc_url"], headers=admin_a)).text)

    company = CompanyFile()
    company.seed_customer("Acme")
    qwc.app_url = endpoint.url
    run = await asyncio.to_thread(WebConnector(qwc, created["password"], company, noop_pause=0).run)
    assert run.outcome == "done", run.last_error
    # A push whose answer never came and one QuickBooks refused, as the push path leaves them.
    for status in ("uncertain", "failed"):
        await db.execute(
            """INSERT INTO qbd_requests (connection_id, kind, status, customer_id)
               VALUES ($1, 'customer_push', $2, $3)""",
            created["connection_id"],
            status,
            f"cust-{status}",
        )

    async with httpx.AsyncClient(base_url=base) as client:
        after = (await client.get("/quickbooks-desktop/connections", headers=admin_a)).json()
    [row] = after["connections"]
    session = row["last_session"]
    assert session is not None and session["status"] == "closed" and session["last_error"] == ""
    assert datetime.fromisoformat(session["last_seen_at"]) >= datetime.fromisoformat(
        row["created_at"]
    )
    assert row["requests"] == {"queued": 0, "uncertain": 1, "failed": 1}
