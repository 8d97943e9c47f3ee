"""`POST /quickbooks/webhooks`: Intuit's notifications, checked and queued, answered fast.

The request does no QuickBooks call: after the signature check it writes one
`QuickBooksWebhookReceived` per entity to the outbox (so Kafka gets it even if we crash right
after answering) and returns 200. The `qb.webhooks` consumer does the work (pull/webhook_events.py).
Intuit retries anything but a timely 200, and notifications are only hints, so duplicates and
out-of-order deliveries are harmless by construction.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request

from platform_events.contracts.quickbooks import QuickBooksWebhookReceived
from platform_events.envelope import new_envelope
from platform_kit.http import ApiError
from platform_kit.outbox import add_to_outbox, outgoing
from platform_kit.runtime import ServiceRuntime
from qb_sync.api.webhook_payload import read_notifications
from qb_sync.connections.store import tenant_of_realm
from qb_sync.pull.metrics import PULL_WEBHOOKS
from qb_sync.pull.notifications import BadPayload, signature_ok
from qb_sync.settings import Settings

log = logging.getLogger(__name__)
SOURCE = "qb-sync"


def webhook_routes(runtime: ServiceRuntime, settings: Settings) -> APIRouter:
    router = APIRouter(tags=["quickbooks webhooks"])

    @router.post(
        "/quickbooks/webhooks", responses={401: {"description": "intuit-signature does not match"}}
    )
    async def receive(request: Request) -> dict[str, Any]:
        body = await request.body()  # the raw bytes: the signature covers them exactly
        if not signature_ok(
            body, request.headers.get("intuit-signature"), settings.qbo_webhook_verifier_token
        ):
            PULL_WEBHOOKS.labels("bad_signature").inc()
            raise ApiError(401, "bad_signature", "intuit-signature does not match the body")
        try:
            notifications = read_notifications(body)
        except BadPayload as exc:  # signed, so Intuit's: acknowledged (api/webhook_payload.py)
            PULL_WEBHOOKS.labels("malformed").inc()
            log.warning("signed webhook body refused: %s", exc)
            return {"queued": 0, "ignored": 0, "refused": f"not a webhook payload: {exc}"}
        queued = ignored = 0
        async with runtime.db.acquire() as conn, conn.transaction():
            events = []
            tenants: dict[str, str | None] = {}
            for n in notifications:
                if n.realm_id not in tenants:
                    tenants[n.realm_id] = await tenant_of_realm(conn, n.realm_id)
                tenant_id = tenants[n.realm_id]
                if tenant_id is None:
                    ignored += 1  # a realm nobody has connected (or disconnected since)
                    continue
                data = QuickBooksWebhookReceived(
                    realm_id=n.realm_id,
                    entity=n.entity,
                    entity_id=n.entity_id,
                    operation=n.operation,
                    deleted_id=n.deleted_id,
                    last_updated=n.last_updated,
                )
                key = f"{n.realm_id}:{n.entity_id}"
                events.append(
                    outgoing(
                        new_envelope(
                            data, source=SOURCE, subject=key, tenant_id=tenant_id, sequence=0
                        ),
                        key=key,
                    )
                )
            await add_to_outbox(conn, events)
            queued = len(events)
        PULL_WEBHOOKS.labels("queued").inc(queued)
        PULL_WEBHOOKS.labels("ignored").inc(ignored)
        if ignored:
            log.info("webhook notifications for unconnected realms ignored: %d", ignored)
        return {"queued": queued, "ignored": ignored}

    return router
