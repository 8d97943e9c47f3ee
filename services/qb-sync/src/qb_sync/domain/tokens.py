"""OAuth tokens as qb-sync holds them: what Intuit grants, and what a QuickBooks call needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Grant:
    """What Intuit's token endpoint answered (a code exchange or a refresh)."""

    access_token: str
    refresh_token: str | None
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None


@dataclass(frozen=True)
class Tokens:
    """The access token a QuickBooks call carries."""

    access_token: str
    expires_at: datetime | None = None
