"""Settings of the QuickBooks Desktop side, read from the environment like qb-sync's own."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

GUID = re.compile(r"^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$")


class QbdSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    # The application's one OwnerID (it owns our FileID DataExt in every company file); one per
    # application, never per tenant. The default serves local runs; production sets its own.
    qbd_owner_id: str = "{5E4D3C2B-1A09-4F8E-9D7C-6B5A4F3E2D1C}"
    # Where the Web Connector reaches qb-sync: AppURL is this + /qbwc, AppSupport + /qbwc/support.
    # The Web Connector accepts only https, except for localhost during development.
    qbd_public_url: str = "http://localhost:8003"
    qbd_app_name: str = "Customer Platform"

    @field_validator("qbd_owner_id")
    @classmethod
    def _guid(cls, value: str) -> str:
        if not GUID.match(value):
            raise ValueError("QBD_OWNER_ID must be a {GUID} in upper case")
        return value

    @field_validator("qbd_public_url")
    @classmethod
    def _https(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "https" and parts.hostname not in ("localhost", "127.0.0.1"):
            raise ValueError("QBD_PUBLIC_URL must be https (plain http only for localhost)")
        return value.rstrip("/")


@lru_cache(maxsize=1)
def qbd_settings() -> QbdSettings:
    return QbdSettings()
