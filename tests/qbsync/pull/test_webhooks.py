"""The webhook endpoint: constant-time signature check, both payload formats, answered at once and
processed through Kafka; duplicates and out-of-order deliveries change the mirror once."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from qbo_emulator.testing import EmulatorServer
from qbo_emulator.webhooks import cloudevents_payload, legacy_payload, sign

from .conftest import VERIFIER, PullTenant, eventually


def notification(
    realm_id: str, qb_id: str, operation: str = "Update", deleted: str | None = None
) -> dict[str, Any]:
    return {
        "realmId": realm_id,
        "entity": "Customer",
        "id": qb_id,
        "operation": operation,
        "deletedId": deleted,
        "lastUpdated": datetime.now(UTC).isoformat(),
    }


async def post_webhook(tenant: PullTenant, payload: Any, signature: str | None = None) -> Any:
    body = json.dumps(payload).encode()
    return await tenant.client.post(
        "/quickbooks/webhooks",
        content=body,
        headers={
            "Content-Type": "application/json",
            "intuit-signature": signature if signature is not None else sign(body, VERIFIER),
        },
    )


async def connected_with(emu: EmulatorServer, tenant: PullTenant, names: list[str]) -> list[dict]:
    emu.seed_realm(tenant.realm_id)
    created = emu.seed(tenant.realm_id, "customers", [{"DisplayName": n} for n in names])
    await tenant.connect()
    await tenant.wait_import_done()
    return created


async def test_a_bad_signature_is_401_and_nothing_is_processed(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    created = await connected_with(emulator, pull_tenant, [f"Sig {pull_tenant.realm_id}"])
    emulator.edit_customer(pull_tenant.realm_id, created[0]["Id"], CompanyName="Changed")
    payload = legacy_payload(notification(pull_tenant.realm_id, created[0]["Id"]))
    body = json.dumps(payload).encode()

    forged = sign(body, "not-the-verifier")
    for signature in (forged, "", "%%%not base64"):
        reply = await post_webhook(pull_tenant, payload, signature)
        assert reply.status_code == 401
        assert reply.json()["error"]["code"] == "bad_signature"
    # The signature covers the exact bytes: a re-serialised body with the right key fails too.
    reply = await pull_tenant.client.post(
        "/quickbooks/webhooks",
        content=json.dumps(payload, indent=2).encode(),
        headers={"intuit-signature": sign(body, VERIFIER)},
    )
    assert reply.status_code == 401

    await asyncio.sleep(1.0)
    assert await pull_tenant.mirrored("qb.webhooks") == []
    assert (await pull_tenant.pull_status())["cdc_last_run_at"] is None
    assert len(await pull_tenant.mirrored()) == 1  # the edit was not pulled


async def test_duplicated_and_out_of_order_notifications_change_the_mirror_once(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    created = await connected_with(emulator, pull_tenant, [f"Dup {pull_tenant.realm_id}"])
    qb_id = created[0]["Id"]
    emulator.edit_customer(pull_tenant.realm_id, qb_id, CompanyName="First edit")
    first = notification(pull_tenant.realm_id, qb_id)
    emulator.edit_customer(pull_tenant.realm_id, qb_id, CompanyName="Second edit")
    second = notification(pull_tenant.realm_id, qb_id)

    # The newer notification first, twice, in both formats; then the older one.
    for payload in (
        legacy_payload(second),
        legacy_payload(second),
        cloudevents_payload(second),
        cloudevents_payload(first),
        legacy_payload(first),
    ):
        reply = await post_webhook(pull_tenant, payload)
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"queued": 1, "ignored": 0}

    async def mirrored_second_edit() -> list[dict] | None:
        events = [
            e["data"] for e in await pull_tenant.mirrored() if e["data"]["qb_customer_id"] == qb_id
        ]
        return events if events[-1]["company_name"] == "Second edit" else None

    events = await eventually(mirrored_second_edit)
    await asyncio.sleep(1.5)  # let every queued notification be processed
    events = [
        e["data"] for e in await pull_tenant.mirrored() if e["data"]["qb_customer_id"] == qb_id
    ]
    assert [(e["sync_token"], e["company_name"]) for e in events] == [
        (0, None),
        (2, "Second edit"),  # one state change; the intermediate version never appears
    ]
    assert len(await pull_tenant.mirrored("qb.webhooks")) == 5


async def test_notifications_for_a_company_nobody_connected_are_acknowledged_and_ignored(
    pull_tenant: PullTenant,
) -> None:
    reply = await post_webhook(pull_tenant, legacy_payload(notification("777000777", "1")))
    assert reply.status_code == 200
    assert reply.json() == {"queued": 0, "ignored": 1}


async def test_a_signed_body_that_is_not_a_webhook_payload_is_acknowledged_and_refused(
    pull_tenant: PullTenant,
) -> None:
    # Intuit retries a non-200 for hours and holds later notifications back meanwhile.
    reply = await post_webhook(pull_tenant, {"hello": "world"})
    assert reply.status_code == 200
    assert reply.json()["queued"] == 0 and "not a webhook payload" in reply.json()["refused"]
