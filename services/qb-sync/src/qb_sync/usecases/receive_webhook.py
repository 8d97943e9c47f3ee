"""Intuit's webhook notifications, checked and queued, never worked on in the request.

After the signature check one `QuickBooksWebhookReceived` per entity goes to the outbox (so Kafka
gets it even if we crash right after answering) and the request is answered. The `qb.webhooks`
consumer does the work (runners/webhook_events.py). Intuit retries anything but a timely 200, and
notifications are only hints, so duplicates and out-of-order deliveries are harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg
from prometheus_client import Counter

from platform_events.contracts.quickbooks import QuickBooksWebhookReceived
from platform_events.envelope import new_envelope
from platform_kit.outbox import OutgoingEvent, add_to_outbox, outgoing
from qb_sync.domain.errors import Unauthorized
from qb_sync.domain.webhook_notifications import BadPayload, Notification, signature_ok
from qb_sync.domain.webhook_payload import read_notifications
from qb_sync.settings import Settings
from qb_sync.store.connections import tenant_of_realm

log = logging.getLogger(__name__)
PULL_WEBHOOKS = Counter(
    "qbsync_webhook_notifications_total",
    "Webhook notifications received, by outcome (queued, ignored, bad_signature, malformed)",
    ["outcome"],
)
SOURCE = "qb-sync"


@dataclass(frozen=True)
class WebhookReceipt:
    queued: int
    ignored: int
    refused: str | None = None  # why a signed body was acknowledged but not used


@dataclass
class WebhookIntake:
    db: asyncpg.Pool
    settings: Settings

    async def receive(self, body: bytes, signature: str | None) -> WebhookReceipt:
        """Notifications for realms nobody has connected are ignored. A signed body we cannot
        read is Intuit's: acknowledged with the reason, not answered with an error
        (domain/webhook_payload.py)."""
        if not signature_ok(body, signature, self.settings.qbo_webhook_verifier_token):
            PULL_WEBHOOKS.labels("bad_signature").inc()
            raise Unauthorized("bad_signature", "intuit-signature does not match the body")
        try:
            notifications = read_notifications(body)
        except BadPayload as exc:
            PULL_WEBHOOKS.labels("malformed").inc()
            log.warning("signed webhook body refused: %s", exc)
            return WebhookReceipt(0, 0, refused=f"not a webhook payload: {exc}")
        async with self.db.acquire() as conn, conn.transaction():
            events = await _events_for_connected(conn, notifications)
            await add_to_outbox(conn, events)
        queued, ignored = len(events), len(notifications) - len(events)
        PULL_WEBHOOKS.labels("queued").inc(queued)
        PULL_WEBHOOKS.labels("ignored").inc(ignored)
        if ignored:
            log.info("webhook notifications for unconnected realms ignored: %d", ignored)
        return WebhookReceipt(queued, ignored)


async def _events_for_connected(
    conn: asyncpg.Connection, notifications: list[Notification]
) -> list[OutgoingEvent]:
    events = []
    tenants: dict[str, str | None] = {}
    for n in notifications:
        if n.realm_id not in tenants:
            tenants[n.realm_id] = await tenant_of_realm(conn, n.realm_id)
        tenant_id = tenants[n.realm_id]
        if tenant_id is None:
            continue  # a realm nobody has connected (or disconnected since)
        data = QuickBooksWebhookReceived(
            realm_id=n.realm_id,
            entity=n.entity,
            entity_id=n.entity_id,
            operation=n.operation,
            deleted_id=n.deleted_id,
            last_updated=n.last_updated,
        )
        key = f"{n.realm_id}:{n.entity_id}"
        envelope = new_envelope(data, source=SOURCE, subject=key, tenant_id=tenant_id, sequence=0)
        events.append(outgoing(envelope, key=key))
    return events
