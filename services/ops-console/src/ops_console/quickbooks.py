"""QuickBooks for the console: qb-sync's connections and sync rows, failures first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ops_console.upstream import Upstream

# What an operator has to act on comes first; within a status the newest change first.
STATUS_ORDER = {"failed": 0, "needs_link": 1, "conflict": 2, "pending": 3, "synced": 4}
SYNC_ROWS = 1000  # qb-sync's page limit


async def overview(qb_sync: Upstream, token: str) -> dict[str, Any]:
    connections = (await qb_sync.json("GET", "/quickbooks/connections", token))["connections"]
    rows = (await qb_sync.json("GET", "/quickbooks/sync", token, params={"limit": SYNC_ROWS}))[
        "items"
    ]
    now = datetime.now(UTC)
    return {
        "connections": [
            {**c, "kind": "online", "token_state": token_state(c, now)} for c in connections
        ],
        "sync": failures_first(rows),
    }


def token_state(connection: dict[str, Any], now: datetime) -> str:
    if connection["status"] != "connected":
        return connection["status"]  # e.g. reauth_required, disconnected
    expires = connection.get("access_expires_at")
    if not expires:
        return "no access token yet"
    left = (datetime.fromisoformat(expires) - now).total_seconds()
    if left <= 0:
        return "access token expired (refreshed on the next call)"
    return f"access token valid for {int(left // 60)} min"


def failures_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = sorted(rows, key=lambda r: r["updated_at"], reverse=True)
    return sorted(rows, key=lambda r: STATUS_ORDER.get(r["status"], len(STATUS_ORDER)))
