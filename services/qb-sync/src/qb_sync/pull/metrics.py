"""Prometheus counters for the pull side and token refreshes (served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

PULL_PUBLISHED = Counter(
    "qbsync_pull_mirrored_total", "QuickBooks customer versions mirrored, by path", ["path"]
)
PULL_CDC_WINDOWS = Counter(
    "qbsync_pull_cdc_windows_total", "CDC passes, by outcome (ok, over_cap, too_old)", ["outcome"]
)
PULL_WEBHOOKS = Counter(
    "qbsync_webhook_notifications_total",
    "Webhook notifications received, by outcome (queued, ignored, bad_signature)",
    ["outcome"],
)
TOKEN_REFRESHES = Counter(
    "qbsync_token_refreshes_total", "Calls to the token endpoint, by outcome", ["outcome"]
)
