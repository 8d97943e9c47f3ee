"""Health and readiness of every service, and how often each restarted (from Prometheus)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ops_console.prometheus import Prometheus
from ops_console.upstream import Upstream
from platform_kit.http import ApiError


async def service_health(upstream: Upstream, ready_path: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": upstream.name, "url": upstream.base_url}
    try:
        alive = await upstream.call("GET", "/healthz")
        out["alive"] = alive.status_code == 200
    except ApiError as exc:
        out.update(alive=False, ready=False, checks={"http": exc.message})
        return out
    if ready_path is None:  # the emulator has no readiness of its own
        out.update(ready=out["alive"], checks={})
        return out
    ready = await upstream.call("GET", ready_path)
    body: dict[str, Any] = {}
    with contextlib.suppress(ValueError):
        body = ready.json()
    out.update(ready=ready.status_code == 200, checks=body.get("checks", {}))
    return out


async def restarts_last_hour(prometheus: Prometheus) -> dict[str, int] | None:
    """Restarts per scrape target (host:port) in the last hour: a process that restarts gets a
    new `process_start_time_seconds`. None when Prometheus cannot be asked."""
    try:
        rows = await prometheus.instant("changes(process_start_time_seconds[1h])")
    except ApiError:
        return None
    return {labels.get("instance", ""): int(value) for labels, value in rows}


def supervised(status_file: str) -> dict[str, dict[str, Any]]:
    """What the supervisor wrote about each process (state, restarts, last exit); {} without one.
    The file is replaced whole on each change, so it is never read half written."""
    if not status_file:
        return {}
    try:
        services = json.loads(Path(status_file).read_text()).get("services", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return services if isinstance(services, dict) else {}


async def all_health(
    upstreams: list[tuple[Upstream, str | None]], prometheus: Prometheus, status_file: str = ""
) -> Any:
    health, restarts = await asyncio.gather(
        asyncio.gather(*(service_health(u, path) for u, path in upstreams)),
        restarts_last_hour(prometheus),
    )
    supervisor = supervised(status_file)
    for row in health:
        instance = urlsplit(row["url"]).netloc
        row["restarts_last_hour"] = None if restarts is None else restarts.get(instance)
        found = supervisor.get(row["name"])
        row["supervisor"] = (
            {
                k: found.get(k)
                for k in ("state", "restarts", "last_exit_code", "last_exit_at", "pid")
            }
            if isinstance(found, dict)
            else None
        )
    return {"services": health, "prometheus": restarts is not None}
