from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from platform_kit.settings import ServiceSettings

# A Fernet key for local emulator runs only; any real environment must set QBO_TOKEN_KEY.
DEV_TOKEN_KEY = "ZGV2LW9ubHktcWItc3luYy10b2tlbi1rZXktMzJieXQ="


class Settings(ServiceSettings):
    http_port: int = 8003

    # Which QuickBooks: the local emulator (default), Intuit's sandbox or production.
    qbo_environment: Literal["emulator", "sandbox", "production"] = "emulator"
    qbo_base_url: str = "http://127.0.0.1:8004"  # emulator API base (emulator mode only)
    qbo_client_id: str = "emulator-client-id"
    qbo_client_secret: str = "emulator-client-secret"
    qbo_redirect_uri: str = "http://localhost:8003/quickbooks/connections/callback"
    # Fernet key(s) for OAuth tokens at rest; comma-separated, the first encrypts (rotation).
    qbo_token_key: str = DEV_TOKEN_KEY
    qbo_webhook_verifier_token: str = "emulator-verifier-token"
    # Refresh the access token when less than this remains (QuickBooks issues 3600 s tokens).
    qbo_refresh_margin_seconds: float = 300.0

    # Pull: CDC poll interval, overlap subtracted from the watermark, import page size.
    pull_enabled: bool = True
    pull_cdc_interval_seconds: float = 60.0
    pull_cdc_overlap_seconds: float = 120.0
    pull_page_size: int = 1000
    # A CDC answer holding this many objects is taken as capped (QuickBooks: 1000, no paging).
    pull_cdc_cap: int = 1000
    # How often the puller looks for due work (imports, webhook-triggered CDC, merges).
    pull_tick_seconds: float = 0.5
    # Only tenants whose id starts with this (tests: concurrent sessions never pull each other's).
    pull_tenant_prefix: str = ""

    # QuickBooks calls (qbo/): pacing per realm below QuickBooks' 500/min, 10/s, 10 in flight;
    # timeouts on every HTTP call; retries inside one call (429 waits ~60 s in production).
    qbo_requests_per_minute: float = 490.0
    qbo_requests_per_second: float = 8.2
    qbo_max_concurrent: int = 4
    qbo_burst: float = 1.0
    qbo_connect_timeout_seconds: float = 10.0
    qbo_read_timeout_seconds: float = 60.0
    qbo_call_retries: int = 3
    qbo_retry_base_seconds: float = 0.5
    qbo_throttle_wait_seconds: float = 60.0
    # Threads running QuickBooks calls (and their send pacing); not the default to_thread pool.
    qbo_threads: int = 32

    # Push: worker concurrency, lease, attempts and backoff between attempts.
    push_enabled: bool = True
    push_workers: int = 8
    push_tick_seconds: float = 0.2
    # A leased row is renewed every quarter of this while it is pushed; a killed worker's rows
    # come back after it. Must leave room for one HTTP attempt (see the validator below).
    push_lease_seconds: float = 120.0
    push_max_attempts: int = 6
    push_backoff_base_seconds: float = 2.0
    push_backoff_max_seconds: float = 300.0
    push_conflict_tries: int = 3
    # Bulk pushes (usecases/push_batch.py): a worker leases up to `push_batch_items` rows of a
    # company at once; when at least `push_batch_min_rows` of them are creates (or updates), they
    # go in batches (creates after one bulk find of their names). QuickBooks allows 30 items a batch and 40 batch requests a minute
    # per company and app (docs/reference/quickbooks-online.md#batch).
    push_batch_enabled: bool = True
    push_batch_items: int = Field(default=30, ge=1, le=30)
    push_batch_min_rows: int = Field(default=5, ge=1)
    qbo_batch_per_minute: float = 38.0
    # Charge each batch item toward qbo_requests_per_minute (off: a batch counts once).
    qbo_batch_counts_items: bool = False
    # One bulk find (DisplayName IN (...)): at most this many names and characters of names.
    qbo_find_names_per_query: int = Field(default=30, ge=1)
    qbo_query_max_chars: int = Field(default=4000, ge=600)
    # Rows failed on timeouts, 5xx or 429 (Desktop: a lock, QuickBooks throwing) are retried on
    # their own (store/push/auto_retry.py):
    # while the company does not answer, one row per company probes it at a backoff doubling from
    # the base up to the max, at most `push_auto_retries` times; once one row of the company
    # syncs again, the others go at once. Checked every `push_auto_retry_check_seconds`.
    push_auto_retry_base_seconds: float = 30.0
    push_auto_retry_max_seconds: float = 900.0
    push_auto_retries: int = 10
    push_auto_retry_check_seconds: float = 5.0
    # QuickBooks Desktop: the pushes of up to this many customers share one qbXML message set
    # (continueOnError, one request each), so a Web Connector round trip carries all their
    # lookups, or Adds, at once (usecases/qbd/web_connector.py).
    qbd_pushes_per_message_set: int = Field(default=20, ge=1, le=100)
    # Only push rows of tenants whose id starts with this (empty: all). Lets concurrent test
    # sessions share one database without pushing each other's rows to the wrong emulator.
    push_tenant_prefix: str = ""

    @property
    def qbo_attempt_budget_seconds(self) -> float:
        """The longest one HTTP attempt can take: both timeouts, the send pacer's spacing, and
        half a second for the thread to get going."""
        rate = min(self.qbo_requests_per_minute / 60.0, self.qbo_requests_per_second)
        return self.qbo_connect_timeout_seconds + self.qbo_read_timeout_seconds + 1 / rate + 0.5

    @model_validator(mode="after")
    def _real_quickbooks_needs_real_secrets(self) -> Settings:
        if self.qbo_environment != "emulator" and self.qbo_token_key == DEV_TOKEN_KEY:
            raise ValueError("QBO_TOKEN_KEY must be set outside emulator mode")
        return self

    @model_validator(mode="after")
    def _an_attempt_fits_in_the_lease(self) -> Settings:
        # Renewed every quarter, a lease always has three quarters left when an attempt starts.
        if self.push_lease_seconds * 0.75 <= self.qbo_attempt_budget_seconds:
            raise ValueError(
                "PUSH_LEASE_SECONDS must exceed 4/3 of one HTTP attempt's worst case "
                f"({self.qbo_attempt_budget_seconds:.1f} s: connect + read timeout + pacing)"
            )
        return self


# The QuickBooks Desktop side (api/qbd, usecases/qbd), read from the environment like the above.
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
