"""OAuth token registry, per realm: single-use authorization codes, expiring access tokens and
refresh tokens that rotate as Intuit's do.

Every pair belongs to a grant (one authorization, or one admin issue); rotation keeps the grant.
Refresh tokens, per Intuit (OAuth FAQ, quoted in python-quickbooks#150; the "Validity of Refresh
Token" article quoted in intuit/QuickBooks-V3-PHP-SDK#324; Intuit staff in
intuit/oauth-jsclient#74 and IntuitDeveloper/oauth2-nodejs#2):
- refreshing with the current value answers a new access token and the *same* refresh token
  until that value is `refresh_token_rotation_seconds` old (a day), then a new value;
  `x_refresh_token_expires_in` counts down the value's own lifetime (`refresh_token_ttl`);
- the replaced value is stale: it keeps working for `refresh_grace_seconds` (24 hours), and
  answers the grant's current value (emulator decision: so two workers that refresh at once
  both end up holding the newest value), then `invalid_grant`;
- no value outlives the grant's hard expiry, five years after the user connected
  (https://blogs.intuit.com/2025/11/12/important-changes-to-refresh-token-policy);
  `x_refresh_token_expires_in` never reaches past it, and clients that send
  `x-include-refresh-token-hard-expires-in: true` (intuit-oauth 1.2.7) also get
  `x_refresh_token_hard_expires_in`.
A code exchanged twice revokes its grant's tokens (RFC 6749 section 10.5; Intuit does the same:
"a second call with the same oauth code ... would invalidate the token for that auth code",
intuit/oauth-jsclient#173)."""

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
    grant_id: str = ""
    issued_at: float = 0.0
    hard_expires_at: float | None = None  # the grant's five-year end


@dataclass
class AccessToken:
    realm_id: str
    expires_at: float
    revoked: bool = False
    grant_id: str = ""


@dataclass
class AuthorizationCode:
    realm_id: str
    redirect_uri: str
    expires_at: float
    grant_id: str
    used: bool = False


# error_description of invalid_grant for a code; Intuit's own wording is n/v.
CODE_UNKNOWN = "Incorrect or invalid authorization code"
CODE_USED = "Authorization code has already been used"
CODE_EXPIRED = "Authorization code has expired"
CODE_REDIRECT_MISMATCH = "redirect_uri does not match the one of the authorization request"
CODE_KEPT_SECONDS = 3600  # a used or expired code is remembered this long, then forgotten


class CodeRefused(Exception):
    """The authorization code cannot be exchanged (invalid_grant); the message says why."""


class TokenRegistry:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.codes: dict[str, AuthorizationCode] = {}

    def issue(self, realm_id: str, grant_id: str | None = None) -> dict[str, Any]:
        """A new grant's pair (or a new pair for `grant_id`), shaped like Intuit's answer."""
        now = self.clock.epoch()
        grant_id = grant_id or secrets.token_hex(8)
        hard = now + self.settings.refresh_token_max_lifetime
        refresh = self._new_refresh(realm_id, grant_id, hard)
        return self._answer(refresh, self._new_access(realm_id, grant_id))

    def rotate(
        self, refresh_token: str, *, with_hard_expiry: bool = False
    ) -> dict[str, Any] | None:
        """Refresh grant: None means invalid_grant (unknown, revoked, expired, or stale for
        longer than the grace window)."""
        entry = self.refresh.get(refresh_token)
        now = self.clock.epoch()
        if entry is None or entry.revoked or min(entry.expires_at, self._hard(entry)) <= now:
            return None
        if entry.replaced_at is not None:
            if now - entry.replaced_at > self.settings.refresh_grace_seconds:
                return None
            current = self._current(entry.grant_id)
            if current is None:
                return None
            refresh_token = current
        elif now - entry.issued_at >= self.settings.refresh_token_rotation_seconds:
            entry.replaced_at = now
            refresh_token = self._new_refresh(entry.realm_id, entry.grant_id, self._hard(entry))
        access = self._new_access(entry.realm_id, entry.grant_id)
        return self._answer(refresh_token, access, with_hard_expiry=with_hard_expiry)

    def _new_access(self, realm_id: str, grant_id: str) -> str:
        access = "eyJemu." + secrets.token_urlsafe(24)
        expires = self.clock.epoch() + self.settings.access_token_ttl
        self.access[access] = AccessToken(realm_id, expires, grant_id=grant_id)
        return access

    def _new_refresh(self, realm_id: str, grant_id: str, hard_expires_at: float) -> str:
        now = self.clock.epoch()
        refresh = "AB1emu" + secrets.token_urlsafe(24)
        self.refresh[refresh] = RefreshToken(
            realm_id,
            min(now + self.settings.refresh_token_ttl, hard_expires_at),
            grant_id=grant_id,
            issued_at=now,
            hard_expires_at=hard_expires_at,
        )
        return refresh

    def _current(self, grant_id: str) -> str | None:
        """The grant's newest refresh token value (not replaced, not revoked)."""
        for value, entry in self.refresh.items():
            if entry.grant_id == grant_id and entry.replaced_at is None and not entry.revoked:
                return value
        return None

    def _hard(self, entry: RefreshToken) -> float:
        return entry.hard_expires_at if entry.hard_expires_at is not None else entry.expires_at

    def _answer(
        self, refresh_token: str, access_token: str, *, with_hard_expiry: bool = False
    ) -> dict[str, Any]:
        now = self.clock.epoch()
        entry = self.refresh[refresh_token]
        answer: dict[str, Any] = {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_in": self.settings.access_token_ttl,
            "x_refresh_token_expires_in": round(min(entry.expires_at, self._hard(entry)) - now),
            "token_type": "bearer",
        }
        if with_hard_expiry:
            answer["x_refresh_token_hard_expires_in"] = round(self._hard(entry) - now)
        return answer

    def issue_code(self, realm_id: str, redirect_uri: str) -> str:
        """The code the consent page sends back: single use, `authorization_code_ttl` long."""
        now = self.clock.epoch()
        for code, entry in list(self.codes.items()):
            if entry.expires_at < now - CODE_KEPT_SECONDS:
                del self.codes[code]
        code = "AB11emu" + secrets.token_urlsafe(24)
        self.codes[code] = AuthorizationCode(
            realm_id,
            redirect_uri,
            now + self.settings.authorization_code_ttl,
            grant_id=secrets.token_hex(8),
        )
        return code

    def exchange(self, code: str, redirect_uri: str) -> tuple[str, dict[str, Any]]:
        """authorization_code grant: (realm id, token response); `CodeRefused` means
        invalid_grant. A second exchange of a code also revokes the tokens the first one gave."""
        entry = self.codes.get(code)
        if entry is None:
            raise CodeRefused(CODE_UNKNOWN)
        if entry.used:
            self.revoke(grant_id=entry.grant_id)
            raise CodeRefused(CODE_USED)
        if entry.expires_at <= self.clock.epoch():
            raise CodeRefused(CODE_EXPIRED)
        if redirect_uri != entry.redirect_uri:
            raise CodeRefused(CODE_REDIRECT_MISMATCH)
        entry.used = True
        return entry.realm_id, self.issue(entry.realm_id, entry.grant_id)

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

    def revoke(
        self, token: str | None = None, realm_id: str | None = None, grant_id: str | None = None
    ) -> int:
        """Revoke every token of the realm `token` belongs to, of `realm_id`, or of one grant."""
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
                hit = entry.realm_id in targets or (
                    grant_id is not None and entry.grant_id == grant_id
                )
                if hit and not entry.revoked:
                    entry.revoked = True
                    count += 1
        return count

    def dump(self) -> dict[str, Any]:
        return {
            "access": {k: asdict(v) for k, v in self.access.items()},
            "refresh": {k: asdict(v) for k, v in self.refresh.items()},
            "codes": {k: asdict(v) for k, v in self.codes.items()},
        }

    def load(self, data: dict[str, Any]) -> None:
        self.access = {k: AccessToken(**v) for k, v in data.get("access", {}).items()}
        self.refresh = {k: RefreshToken(**v) for k, v in data.get("refresh", {}).items()}
        self.codes = {k: AuthorizationCode(**v) for k, v in data.get("codes", {}).items()}

    def clear(self) -> None:
        self.access.clear()
        self.refresh.clear()
        self.codes.clear()
