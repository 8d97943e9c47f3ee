"""QuickBooks requestids for pushes (QuickBooks replays a request it has seen under the same
requestid instead of doing it twice). Derived, never random, so a retry after a crash sends the
same id: uuid5 in one fixed namespace, 36 characters, under QuickBooks' limit of 50."""

from __future__ import annotations

import uuid

# Fixed namespace: the same (realm, customer, generation) always gives the same requestid.
REQUEST_ID_NAMESPACE = uuid.UUID("6f1c1e0e-3d59-4f57-9b8e-2f7a8c1d0b55")


def create_request_id(realm_id: str, customer_id: str, generation: str) -> str:
    """36 characters, under QuickBooks' 50-character requestid limit."""
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, f"{realm_id}:{customer_id}:{generation}"))


def next_request_id(request_id: str) -> str:
    """The requestid of the next create after QuickBooks refused this one (nothing was created,
    so a new body may go out, under a new id: one requestid never carries two bodies)."""
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, f"next:{request_id}"))


def update_request_id(realm_id: str, qb_id: str, payload: str) -> str:
    """Same body on the same SyncToken = same requestid: a retry after a lost answer is replayed
    by QuickBooks instead of answered 5010 (stale SyncToken)."""
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, f"update:{realm_id}:{qb_id}:{payload}"))
