"""A tenant's admin creates a QuickBooks Desktop connection, gets its password once, downloads its
.qwc, queues a refresh, and the Web Connector opened with that .qwc imports the customers."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from platform_kit.auth import create_token
from qb_sync.qbd.settings import QbdSettings, qbd_settings
from qbd_simulator.company import CompanyFile
from qbd_simulator.connector import WebConnector
from qbd_simulator.qwc import read_qwc
from tests.qbd.conftest import Endpoint

pytestmark = pytest.mark.integration


async def test_create_download_and_run_the_qwc(endpoint: Endpoint, db: asyncpg.Pool) -> None:
    base = endpoint.url.removesuffix("/qbwc")
    admin_a = {"Authorization": "Bearer " + await create_token(db, "tenant-qwc-a", ["admin"])}
    admin_b = {"Authorization": "Bearer " + await create_token(db, "tenant-qwc-b", ["admin"])}
    async with httpx.AsyncClient(base_url=base) as client:
        created = await client.post("/quickbooks-desktop/connections", headers=admin_a)
        assert created.status_code == 201
        body = created.json()
        password = body["password"]
        stored = await db.fetchrow(
            "SELECT * FROM qbd_connections WHERE username = $1", body["username"]
        )
        assert stored["tenant_id"] == "tenant-qwc-a"
        assert password not in str(dict(stored)) and stored["password_hash"].startswith("scrypt$")

        qwc_response = await client.get(body["qwc_url"], headers=admin_a)
        assert qwc_response.status_code == 200
        assert qwc_response.headers["content-disposition"].endswith('.qwc"')
        assert password not in qwc_response.text  # the user types it into the Web Connector
        qwc = read_qwc(qwc_response.text)
        assert (qwc.username, qwc.file_id, qwc.owner_id) == (
            body["username"], body["file_id"], qbd_settings().qbd_owner_id,
        )  # fmt: skip
        assert qwc.app_url == qbd_settings().qbd_public_url + "/qbwc"
        assert (
            "<AppSupport>" + qbd_settings().qbd_public_url + "/qbwc/support<" in qwc_response.text
        )

        # another tenant can neither download it nor queue work on it
        assert (await client.get(body["qwc_url"], headers=admin_b)).status_code == 404
        import_url = body["qwc_url"].removesuffix("/qwc") + "/refresh"
        assert (await client.post(import_url, headers=admin_b)).status_code == 404
        assert (await client.get(body["qwc_url"])).status_code == 401

        first = await client.post(import_url, headers=admin_a)
        again = await client.post(import_url, headers=admin_a)
        assert first.status_code == 202, first.text
        assert first.json() == again.json()  # one refresh queued

    company = CompanyFile()
    company.seed_customer("Acme")
    company.seed_customer("Site 1", parent="Acme")
    qwc.app_url = endpoint.url  # the test endpoint's port instead of the configured public URL
    session = await asyncio.to_thread(WebConnector(qwc, password, company, noop_pause=0).run)
    assert session.outcome == "done", session.last_error
    names = await db.fetch("SELECT full_name FROM qbd_customers ORDER BY full_name")
    assert [r["full_name"] for r in names] == ["Acme", "Acme:Site 1"]


def test_the_app_url_must_be_https_except_on_localhost() -> None:
    with pytest.raises(ValidationError):
        QbdSettings(qbd_public_url="http://sync.example.com")
    assert (
        QbdSettings(qbd_public_url="https://sync.example.com/").qbd_public_url
        == "https://sync.example.com"
    )
    with pytest.raises(ValidationError):
        QbdSettings(qbd_owner_id="not-a-guid")
