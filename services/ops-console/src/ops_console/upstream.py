"""Calls to the platform's services on the operator's behalf, with the operator's own bearer
token: each service applies its own scope and tenant rules, the console adds none of its own."""

from __future__ import annotations

from typing import Any

import httpx

from ops_console.metrics import UPSTREAM_CALLS, UPSTREAM_SECONDS, outcome
from platform_kit.http import ApiError


class Upstream:
    def __init__(self, client: httpx.AsyncClient, name: str, base_url: str) -> None:
        self.client = client
        self.name = name
        self.base_url = base_url.rstrip("/")

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            with UPSTREAM_SECONDS.labels(self.name).time():
                response = await self.client.request(
                    method, self.base_url + path, headers=headers, params=params, json=json
                )
        except httpx.HTTPError as exc:
            UPSTREAM_CALLS.labels(self.name, "unavailable").inc()
            raise ApiError(
                502, "upstream_unavailable", f"{self.name} at {self.base_url}: {exc!r}"
            ) from None
        UPSTREAM_CALLS.labels(self.name, outcome(response.status_code)).inc()
        return response

    async def json(
        self,
        method: str,
        path: str,
        token: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """The answer's JSON body; a refusal keeps its status and machine-readable error."""
        response = await self.call(method, path, token, params=params, json=json)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            if response.status_code < 500 and isinstance(error, dict) and "code" in error:
                extra = {k: v for k, v in error.items() if k not in ("code", "message")}
                raise ApiError(
                    response.status_code, error["code"], error.get("message", ""), **extra
                )
            raise ApiError(
                502,
                "upstream_error",
                f"{self.name} answered {response.status_code} to {method} {path}",
            )
        if body is None:
            raise ApiError(502, "upstream_error", f"{self.name} answered no JSON to {path}")
        return body
