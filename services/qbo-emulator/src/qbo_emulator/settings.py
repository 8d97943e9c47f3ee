"""Tunable behaviour of the emulator; defaults are QuickBooks' own documented values."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class Settings:
    # OAuth app credentials the token endpoint accepts (Basic auth).
    client_id: str = "emulator-client-id"
    client_secret: str = "emulator-client-secret"
    access_token_ttl: int = 3600  # seconds; QBO issues 1-hour access tokens
    # Refresh tokens (Intuit's OAuth FAQ and "Validity of Refresh Token" article; see tokens.py):
    # a value lives 101 days (x_refresh_token_expires_in 8726400 in real answers); refreshing
    # with it hands back the same value until it is a day old, then a new value, and the
    # replaced one stays usable ("stale") for 24 hours. Every grant ends five years after the
    # user connected (Intuit's 2025 refresh-token policy), whatever is refreshed in between.
    refresh_token_ttl: int = 8726400
    refresh_token_rotation_seconds: int = 86400
    refresh_grace_seconds: int = 86400
    refresh_token_max_lifetime: int = 5 * 365 * 86400
    # Authorization codes are single use and short lived. Intuit's code lifetime is not in our
    # stored sources (n/v); 300 s is the common value (RFC 6749 4.1.2 advises at most 10 min).
    authorization_code_ttl: int = 300
    # Redirect URIs the consent page sends users back to. Intuit accepts only the URIs registered
    # on the app's Keys tab; None accepts any absolute http(s) URL (for local runs that do not
    # register one). A list makes the check strict, as in QuickBooks.
    redirect_uris: list[str] | None = None
    # The company the consent page connects when the request names none (`realm_id` query
    # parameter); None creates a new company for each such authorization.
    default_realm_id: str | None = None
    # Company clock: MetaData times carry this offset (QBO samples show -07:00, not UTC).
    tz_offset_minutes: int = -420
    clock_offset_seconds: float = 0.0  # moves "now" for tests (CDC windows, token expiry)
    home_currency: str = "USD"
    # Authentication is strict by default, as in QuickBooks: a /v3 call needs an access token
    # the emulator issued for that realm (unknown or expired token -> 401, token of another
    # realm -> 403, unknown realm -> 401/403). Two opt-ins for runs that do not care about OAuth:
    # permissive_auth: a realm seeded without tokens (POST /_admin/realms/{r}/seed) accepts any
    # bearer token the emulator never issued, until tokens are issued for it.
    permissive_auth: bool = False
    # auto_create_realms: the first call to an unknown realm id creates it (permissively).
    auto_create_realms: bool = False
    # Time every admitted /v3 request is held before it is answered, so requests overlap and
    # the in-flight limit can be reached. No source gives QuickBooks' server time; 200 ms is a
    # decision (a typical cross-internet JSON API answer; it keeps one sequential client under
    # the 500/min limit while a handful of concurrent ones can reach it). The test harness
    # starts servers with 0 unless asked.
    service_time_ms: int = 200
    # Throttling per realm (Intuit limits page): 500/min, 10/s, 10 in flight; batch 40/min.
    requests_per_minute: int = 500
    requests_per_second: int = 10
    max_concurrent: int = 10
    batch_per_minute: int = 40
    # Batch (Intuit limits page: at most 30 payloads per batch request). A batch request counts
    # once toward requests_per_minute ("500 requests per minute per realmId, including batch
    # requests", Intuit 2016); batch_counts_items=True charges one per item instead.
    batch_max_items: int = 30
    batch_counts_items: bool = False
    # A /v3 body larger than this gets 413 with an HTML page, as over-large batches do at
    # Intuit (ruckus/quickbooks-ruby#361). The size is not documented: decision.
    max_body_bytes: int = 1_000_000
    retry_after_seconds: int | None = None  # Retry-After on 429 is not documented: off
    # Query engine
    # MAXRESULTS over 1000: "fault" answers Intuit's 4001 "value N is too large. Max allowed
    # value is 1000" (ruckus/quickbooks-ruby#24); "clamp" silently returns 1000.
    max_results_over_limit: str = "fault"
    # Query text longer than this (characters) gets 4000; None = no limit. Intuit documents
    # none, so it is off by default; set it to test bulk finds that must split their IN lists.
    max_query_length: int | None = None
    reject_non_ascii_punctuation: bool = True  # curly quotes / en dash break QBO's lexer
    # CDC
    cdc_max_objects: int = 1000
    cdc_max_days: int = 30
    # Names
    name_compare: str = "casefold"  # "casefold" (trimmed, case-insensitive) or "exact"
    reserve_inactive_names: bool = True
    # Making a customer with an open balance inactive is refused, as at Intuit (ruby#390).
    refuse_deactivate_with_balance: bool = True
    # Webhooks
    webhook_url: str | None = None
    webhook_verifier_token: str = "emulator-verifier-token"
    webhook_format: str = "legacy"  # "legacy" or "cloudevents"
    webhook_retry_delays: list[float] = field(default_factory=lambda: [0.2, 0.5, 1.0])
    webhook_timeout: float = 3.0  # QBO expects a reply within 3 s
    # requestid replay entries kept per realm (None = unlimited)
    requestid_ttl_seconds: float | None = None

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(values) - known
        if unknown:
            raise KeyError(f"unknown settings: {sorted(unknown)}")
        for key, value in values.items():
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
