from __future__ import annotations

from typing import Literal

from pydantic import model_validator

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

    @model_validator(mode="after")
    def _real_quickbooks_needs_real_secrets(self) -> Settings:
        if self.qbo_environment != "emulator" and self.qbo_token_key == DEV_TOKEN_KEY:
            raise ValueError("QBO_TOKEN_KEY must be set outside emulator mode")
        return self
