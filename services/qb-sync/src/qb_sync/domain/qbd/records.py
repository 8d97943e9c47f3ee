"""What the QuickBooks Desktop store hands to the use cases: a connection, one queued job and
one Web Connector session (tables in migrations/009_qbd_web_connector.sql)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class QbdConnection:
    connection_id: uuid.UUID
    tenant_id: str
    username: str
    password_hash: str
    owner_id: str
    file_id: str
    company_file: str


@dataclass(frozen=True)
class Job:
    request_id: int
    kind: str
    state: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Session:
    ticket_hash: bytes
    connection_id: uuid.UUID
    tenant_id: str
    owner_id: str
    file_id: str
    file_checked: bool
    qbxml_version: str
    in_flight: int | None
    last_error: str


def desktop_realm(connection_id: uuid.UUID | str) -> str:
    """The push realm of a Desktop company (the realm of its push rows, MappingSaved.realm_id):
    its connection id, so QuickBooks Online realm ids (digits) never collide with it."""
    return str(connection_id)


def is_desktop_realm(realm_id: str) -> bool:
    """A Desktop company's realm is a connection id (a UUID); QuickBooks Online's are digits."""
    try:
        uuid.UUID(realm_id)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ConnectionOverview:
    """What an operator sees of a Desktop connection (never its password hash): the company file,
    its last Web Connector session and how many requests wait, are uncertain or failed."""

    connection_id: uuid.UUID
    username: str
    file_id: str
    company_file: str
    created_at: datetime
    last_session_at: datetime | None
    last_seen_at: datetime | None
    session_status: str | None  # 'open' or 'closed'; None: the Web Connector never called
    last_error: str
    queued: int
    uncertain: int
    failed: int
