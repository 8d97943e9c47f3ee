"""Where the gateway gets access tokens: a protocol, so the stored, refreshed tokens
(usecases/stored_tokens.py) stay out of the gateway, which only asks."""

from __future__ import annotations

from typing import Protocol

from qb_sync.domain.tokens import Tokens


class Credentials(Protocol):
    async def tokens(self, tenant_id: str, realm_id: str) -> Tokens:
        """A usable access token (refreshed first if about to expire); `ReauthRequired` if none."""
        ...

    async def refreshed(self, tenant_id: str, realm_id: str, rejected_access_token: str) -> Tokens:
        """QuickBooks answered 401 with `rejected_access_token`: refresh (single-flight) unless
        someone already did, and return the new token."""
        ...


class FixedCredentials:
    """One fixed access token (one the emulator issued) for every realm, never refreshed: for
    tests and tools that hold a token and no stored connection."""

    def __init__(self, access_token: str) -> None:
        self.access_token = access_token

    async def tokens(self, tenant_id: str, realm_id: str) -> Tokens:
        return Tokens(self.access_token)

    async def refreshed(self, tenant_id: str, realm_id: str, rejected_access_token: str) -> Tokens:
        return Tokens(self.access_token)
