"""OAuth token registry: expiring access tokens and rotating refresh tokens, per realm."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import Any

from qbo_emulator.clock import Clock
from qbo_emulator.settings import Settings


@dataclass
class RefreshToken:
    realm_id: str
    expires_at: float
    replaced_at: float | None = None  # set when rotated out: the token is stale from then on
    revoked: bool = False


@dataclass
class AccessToken:
    realm_id: str
    expires_at: float
    revoked: bool = False


class TokenRegistry:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}

    def issue(self, realm_id: str) -> dict[str, Any]:
        """A new pair, shaped like Intuit's token response."""
        now = self.clock.epoch()
        access = "eyJemu." + secrets.token_urlsafe(24)
        refresh = "AB1emu" + secrets.token_urlsafe(24)
        self.access[access] = AccessToken(realm_id, now + self.settings.access_token_ttl)
        self.refresh[refresh] = RefreshToken(realm_id, now + self.settings.refresh_token_ttl)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": self.settings.access_token_ttl,
            "x_refresh_token_expires_in": self.settings.refresh_token_ttl,
            "token_type": "bearer",
        }

    def rotate(self, refresh_token: str) -> dict[str, Any] | None:
        """Refresh grant: None means invalid_grant (unknown, revoked, expired or stale)."""
        entry = self.refresh.get(refresh_token)
        now = self.clock.epoch()
        if entry is None or entry.revoked or entry.expires_at <= now:
            return None
        if (
            entry.replaced_at is not None
            and now - entry.replaced_at > self.settings.refresh_grace_seconds
        ):
            return None
        if entry.replaced_at is None:
            entry.replaced_at = now
        return self.issue(entry.realm_id)

    def check(self, access_token: str) -> tuple[str | None, str]:
        """(realm the token is for, or None, and the reason when it is refused)."""
        entry = self.access.get(access_token)
        if entry is None or entry.revoked:
            return None, "Token invalid: the access token is unknown or revoked"
        if entry.expires_at <= self.clock.epoch():
            return None, "Token expired: the access token has expired"
        return entry.realm_id, ""

    def issued(self, access_token: str) -> bool:
        """Whether the emulator ever issued this access token (expired and revoked ones too)."""
        return access_token in self.access

    def expire(self, realm_id: str | None = None) -> int:
        """Make access tokens expire now (admin), so the next call gets 401."""
        now, count = self.clock.epoch(), 0
        for entry in self.access.values():
            if realm_id is None or entry.realm_id == realm_id:
                entry.expires_at = min(entry.expires_at, now)
                count += 1
        return count

    def revoke(self, token: str | None = None, realm_id: str | None = None) -> int:
        count = 0
        targets: set[str] = set()
        if token is not None:
            for table in (self.access, self.refresh):
                if token in table:
                    targets.add(table[token].realm_id)
        if realm_id is not None:
            targets.add(realm_id)
        for table in (self.access, self.refresh):
            for entry in table.values():
                if entry.realm_id in targets and not entry.revoked:
                    entry.revoked = True
                    count += 1
        return count

    def dump(self) -> dict[str, Any]:
        return {
            "access": {k: asdict(v) for k, v in self.access.items()},
            "refresh": {k: asdict(v) for k, v in self.refresh.items()},
        }

    def load(self, data: dict[str, Any]) -> None:
        self.access = {k: AccessToken(**v) for k, v in data.get("access", {}).items()}
        self.refresh = {k: RefreshToken(**v) for k, v in data.get("refresh", {}).items()}

    def clear(self) -> None:
        self.access.clear()
        self.refresh.clear()
