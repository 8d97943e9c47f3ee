"""qb-sync's public edges meet bad input with a 4xx (or, for Intuit, an acknowledgement), never a
500, and nothing stored changes: webhooks, the OAuth callback, oversized chunked bodies."""

from __future__ import annotations

import json

import pytest

from qbo_emulator.webhooks import sign

from .conftest import VERIFIER, PullTenant

pytestmark = pytest.mark.integration

DEEP = b"[" * 5000 + b"]" * 5000


async def stored(t: PullTenant) -> tuple[object, ...]:
    return (
        await t.db.fetchval("SELECT count(*) FROM test_pull_outbox_copy"),
        await t.db.fetch("SELECT * FROM qb_oauth_states ORDER BY 1"),
        await t.db.fetch("SELECT tenant_id, realm_id, status FROM qb_connections ORDER BY 1, 2"),
    )


async def post_signed(t: PullTenant, body: bytes) -> object:
    return await t.client.post(
        "/quickbooks/webhooks",
        content=body,
        headers={"Content-Type": "application/json", "intuit-signature": sign(body, VERIFIER)},
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"eventNotifications": [{"realmId": "1", "dataChangeEvent": [1]}]},
        {"eventNotifications": [{"realmId": "1", "dataChangeEvent": {"entities": "abc"}}]},
        {
            "eventNotifications": [
                {
                    "realmId": "1",
                    "dataChangeEvent": {
                        "entities": [
                            {
                                "name": "Customer",
                                "id": "1",
                                "operation": "Update",
                                "lastUpdated": {},
                            }
                        ]
                    },
                }
            ]
        },
        [
            {
                "type": "qbo.customer.updated.v1",
                "intuitentityid": "1",
                "intuitaccountid": "1",
                "time": 12,
            }
        ],
        [{"type": ["qbo"], "intuitentityid": "1", "intuitaccountid": "1"}],
        [{"type": "qbo.customer.updated.v1", "intuitentityid": "1", "intuitaccountid": "9" * 500}],
        "just a string",
        12,
    ],
)
async def test_signed_webhooks_with_a_malformed_body_are_acknowledged_never_500(
    pull_tenant: PullTenant, payload: object
) -> None:
    before = await stored(pull_tenant)
    reply = await post_signed(pull_tenant, json.dumps(payload).encode())
    assert reply.status_code == 200, reply.text  # type: ignore[attr-defined]
    assert reply.json()["queued"] == 0 and reply.json()["refused"]  # type: ignore[attr-defined]
    assert await stored(pull_tenant) == before


async def test_deeply_nested_or_nul_bearing_webhooks_are_refused_before_anything_runs(
    pull_tenant: PullTenant,
) -> None:
    before = await stored(pull_tenant)
    deep = await post_signed(pull_tenant, DEEP)
    nul = await post_signed(pull_tenant, b'{"eventNotifications": [{"realmId": "1\\u0000"}]}')
    assert [deep.status_code, nul.status_code] == [422, 422]  # type: ignore[attr-defined]
    assert await stored(pull_tenant) == before


async def test_a_chunked_webhook_body_over_the_limit_is_413(pull_tenant: PullTenant) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"eventNotifications": ['
        for _ in range(300):
            yield b" " * 4096
        yield b"]}"

    reply = await pull_tenant.client.post(
        "/quickbooks/webhooks", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "payload_too_large"


async def test_nul_bytes_in_the_unauthenticated_oauth_callback_are_422(
    pull_tenant: PullTenant,
) -> None:
    before = await stored(pull_tenant)
    for query in (
        "state=%00&code=c&realmId=1",
        "state=s&code=%00abc&realmId=1",
        "state=s&error=%00",
    ):
        reply = await pull_tenant.client.get(f"/quickbooks/connections/callback?{query}")
        assert reply.status_code == 422, (query, reply.text)
        assert reply.json()["error"]["code"] == "validation_failed"
    assert await stored(pull_tenant) == before
