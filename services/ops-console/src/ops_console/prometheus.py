"""Prometheus' HTTP API, read-only: instant queries and ranges for the console's charts."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from ops_console.metrics import UPSTREAM_CALLS, UPSTREAM_SECONDS, outcome
from platform_kit.http import ApiError


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (unix seconds, value)


class Prometheus:
    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")

    async def _get(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            with UPSTREAM_SECONDS.labels("prometheus").time():
                response = await self.client.get(self.base_url + path, params=params)
        except httpx.HTTPError as exc:
            UPSTREAM_CALLS.labels("prometheus", "unavailable").inc()
            raise ApiError(
                503, "prometheus_unavailable", f"Prometheus at {self.base_url}: {exc!r}"
            ) from None
        UPSTREAM_CALLS.labels("prometheus", outcome(response.status_code)).inc()
        body = response.json() if response.content else {}
        if response.status_code != 200 or body.get("status") != "success":
            raise ApiError(
                502,
                "prometheus_error",
                f"Prometheus answered {response.status_code}: {body.get('error', response.text)}",
            )
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def range(self, expr: str, minutes: int, points: int = 150) -> list[Series]:
        end = time.time()
        start = end - minutes * 60
        step = max(1.0, (end - start) / points)
        result = await self._get(
            "/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step}
        )
        return [
            Series(r["metric"], [(float(t), _number(v)) for t, v in r["values"]]) for r in result
        ]

    async def instant(self, expr: str) -> list[tuple[dict[str, str], float]]:
        result = await self._get("/api/v1/query", {"query": expr})
        return [(r["metric"], _number(r["value"][1])) for r in result]


def _number(text: str) -> float:
    value = float(text)
    return 0.0 if value != value else value  # NaN (a rate over one sample) charts as zero
