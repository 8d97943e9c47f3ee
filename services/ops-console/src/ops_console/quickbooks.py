"""QuickBooks for the console: qb-sync's connections (Online and Desktop) and sync rows,
failures first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ops_console.upstream import Upstream

# What an operator has to act on comes first; within a status the newest change first.
STATUS_ORDER = {"failed": 0, "needs_link": 1, "conflict": 2, "pending": 3, "synced": 4}
SYNC_ROWS = 1000  # qb-sync's page limit


async def overview(qb_sync: Upstream, token: str) -> dict[str, Any]:
    connections = (await qb_sync.json("GET", "/quickbooks/connections", token))["connections"]
    desktop = (await qb_sync.json("GET", "/quickbooks-desktop/connections", token))["connections"]
    rows = (await qb_sync.json("GET", "/quickbooks/sync", token, params={"limit": SYNC_ROWS}))[
        "items"
    ]
    now = datetime.now(UTC)
    return {
        "connections": [
            {**c, "kind": "online", "token_state": token_state(c, now)} for c in connections
        ]
        + [desktop_row(c) for c in desktop],
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


def desktop_row(connection: dict[str, Any]) -> dict[str, Any]:
    """A Desktop connection in the same table as Online ones: its company file (its FileID until
    the Web Connector opened it), its last Web Connector session where Online shows the token."""
    session = connection["last_session"]
    counts = connection["requests"]
    if session is None:
        status, state, error = "waiting", "the Web Connector has not called yet", None
    else:
        error = session["last_error"] or None
        status = "last session failed" if error else "connected"
        state = f"last Web Connector session {session['last_seen_at']} ({session['status']})"
    return {
        **connection,
        "kind": "desktop",
        # Its push realm, as in the sync rows below (docs/decisions/0016-qbsync-desktop.md)
        "realm_id": connection["connection_id"],
        "company": connection["company_file"] or connection["file_id"],
        "status": status,
        "session_state": state,
        "connected_at": connection["created_at"],
        "last_error": error,
        "queue": f"{counts['queued']} queued, {counts['uncertain']} uncertain, "
        f"{counts['failed']} failed",
    }


def failures_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = sorted(rows, key=lambda r: r["updated_at"], reverse=True)
    return sorted(rows, key=lambda r: STATUS_ORDER.get(r["status"], len(STATUS_ORDER)))
