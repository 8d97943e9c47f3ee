"""HTTP conventions shared by every API: error bodies, correlation ids, payload size limit.

Every error is JSON: {"error": {"code": "...", "message": "...", "fields": [...]}} so clients can
act on `code` and show `fields` next to the inputs they name.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from platform_kit.logs import correlation_id_var
from platform_kit.openapi import document_errors

CORRELATION_HEADER = "x-correlation-id"


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []
        self.extra = extra

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        error.update(self.extra)
        return {"error": error}


def field_error(field: str, message: str, code: str = "invalid") -> dict[str, Any]:
    return {"field": field, "code": code, "message": message}


class BodySizeLimit:
    """413 before reading more than `max_bytes` of a request body, declared or streamed.

    The body is read whole here, before the app runs: a chunked body (no Content-Length) that
    runs over is refused exactly like a declared one, instead of failing inside whatever route
    was reading it (a 400 from form parsing, a 500 from a raw `request.body()`)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(self.max_bytes)(scope, receive, send)
            return
        try:
            _body, replayed = await read_whole_body(receive, self.max_bytes)
        except PayloadTooLarge:
            await _too_large(self.max_bytes)(scope, receive, send)
            return
        await self.app(scope, replayed, send)


class PayloadTooLarge(Exception):
    pass


async def read_whole_body(receive: Receive, max_bytes: int | None = None) -> tuple[bytes, Receive]:
    """The request body, and a `receive` that hands it to the app again as one message."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), _replaying(b"".join(chunks), receive, message)
        chunk = message.get("body", b"")
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise PayloadTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), _replaying(b"".join(chunks), receive, None)


def _replaying(body: bytes, receive: Receive, pending: Message | None) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if pending is not None:
            return pending  # e.g. http.disconnect, seen while reading
        return await receive()

    return replayed


class CorrelationIds:
    """The request's correlation id (the client's X-Correlation-Id, else a new one) is set for
    logs and events while the app runs, and sent back on the response. Plain ASGI: as a
    BaseHTTPMiddleware it cost a task, streams and a copy of each response per request (~15%
    of the customer service's CPU at its create limit, bench/customer_api.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, CORRELATION_HEADER.encode())
        correlation_id = given.decode("latin-1") if given else str(uuid.uuid4())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
            await send(message)

        token = correlation_id_var.set(correlation_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            correlation_id_var.reset(token)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return bytes(value)
    return None


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def _too_large(limit: int) -> JSONResponse:
    return error_response(ApiError(413, "payload_too_large", f"request body exceeds {limit} bytes"))


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method the resource at this path serves, as its OpenAPI document lists them.
    Starlette's own 405 names only the first matching route's method (FastAPI makes one route
    per method). A literal path wins over a template that happens to match it:
    `/connections/authorize` is not the `{realm_id}` of `DELETE /connections/{realm_id}`."""
    path = scope.get("path", "")
    literal: set[str] = set()
    templated: set[str] = set()
    for template, (pattern, methods) in _path_patterns(app).items():
        if pattern.fullmatch(path):
            (templated if "{" in template else literal).update(methods)
    return sorted(literal or templated)


def _path_patterns(app: FastAPI) -> dict[str, tuple[re.Pattern[str], set[str]]]:
    cached: dict[str, tuple[re.Pattern[str], set[str]]] | None = getattr(
        app.state, "path_patterns", None
    )
    if cached is None:
        cached = {
            template: (
                re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))),
                {m.upper() for m in item if m.upper() in _METHODS},
            )
            for template, item in app.openapi().get("paths", {}).items()
        }
        app.state.path_patterns = cached
    return cached


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def install_http_basics(app: FastAPI, max_body_bytes: int = 1_000_000) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Unknown routes and wrong methods answer in the same shape as every other error.
        codes = {
            400: "malformed_body",  # FastAPI's "error parsing the body": not UTF-8, not JSON
            401: "unauthorized",
            404: "not_found",
            405: "method_not_allowed",
        }
        code = codes.get(exc.status_code, f"http_{exc.status_code}")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        return error_response(ApiError(exc.status_code, code, str(exc.detail)), headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            field_error(
                ".".join(str(p) for p in err["loc"] if p != "body"), err["msg"], err["type"]
            )
            for err in exc.errors()
        ]
        body = ApiError(422, "validation_failed", "the request has invalid fields", fields).body()
        return JSONResponse(body, status_code=422)

    app.add_middleware(CorrelationIds)

    from platform_kit.request_guard import UnstorableTextGuard  # it builds on this module

    document_errors(app)
    app.add_middleware(UnstorableTextGuard)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
