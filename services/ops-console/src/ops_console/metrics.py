"""The console's own metrics, on its /metrics beside the process metrics every service has: how
its calls to the platform's services and Prometheus went (an operator's empty page is explained
here), and the dead letters operators replayed."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

UPSTREAM_CALLS = Counter(
    "opsconsole_upstream_calls_total",
    "Calls the console made to a service on an operator's behalf, by outcome: ok (2xx/3xx), "
    "refused (4xx), failed (5xx) or unavailable (no answer)",
    ["upstream", "outcome"],
)
UPSTREAM_SECONDS = Histogram(
    "opsconsole_upstream_seconds", "Time a service took to answer the console", ["upstream"]
)
LETTERS_REPLAYED = Counter(
    "opsconsole_letters_replayed_total",
    "Dead letters an operator replayed to their source topic from the console",
    ["topic"],
)


def outcome(status: int) -> str:
    return "ok" if status < 400 else "refused" if status < 500 else "failed"
