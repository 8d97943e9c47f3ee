"""A signed webhook body read into notifications, or refused with a reason, never an exception.

Intuit holds later notifications back until a failed delivery is acknowledged, and retries for
hours (docs/reference/quickbooks-online.md#webhooks). A body it signed but we cannot read will
not read better on a retry, so the receiver acknowledges it (200, counted and logged) instead
of answering an error: the next change-data-capture pass covers what it announced.
"""

from __future__ import annotations

import json

from qb_sync.domain.webhook_notifications import BadPayload, Notification, parse_notifications

_MAX_ID = 64  # realm and entity ids are short numbers; anything longer is not QuickBooks'


def read_notifications(body: bytes) -> list[Notification]:
    """Raises BadPayload, with the reason, for anything that is not a webhook body we can use:
    not JSON, the wrong shape, wrong types at any level, or nesting too deep to parse."""
    try:
        notifications = parse_notifications(json.loads(body))
    except BadPayload:
        raise
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise BadPayload(f"{type(exc).__name__}: {exc}") from exc
    for n in notifications:
        if n.last_updated is not None and not isinstance(n.last_updated, str):
            raise BadPayload("lastUpdated/time is not text")
        if len(n.realm_id) > _MAX_ID or len(n.entity_id) > _MAX_ID:
            raise BadPayload("a realm or entity id is too long")
    return notifications
