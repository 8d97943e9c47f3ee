"""Billing's own Prometheus metrics (the kit counts events in and out)."""

from __future__ import annotations

from prometheus_client import Counter

CONFLICTS_PARKED = Counter(
    "billing_conflicts_parked_total",
    "Facts whose natural key was seen before with different content (parked, not applied)",
    ["type"],
)
TRANSACTIONS_REJECTED = Counter(
    "billing_transactions_rejected_total",
    "Facts refused and dead-lettered (currency mismatch, inactive customer, ...)",
    ["type"],
)
FLAG_CHANGES = Counter(
    "billing_flag_changes_total", "Credit limit and overdue flag changes emitted", ["flag"]
)
PENDING_PARKED = Counter(
    "billing_pending_parked_total",
    "Transactions parked until what they need arrives (their customer, or the corrected entry)",
    ["waits_for"],
)
