"""Refuse, before any route runs, request text the database could never store.

One check for every route of every service, instead of one per field: a NUL character in the
path, the query string, a header or a JSON body (at any depth, keys too), a lone surrogate in a
JSON string, or JSON nested deeper than any of our bodies. Each answers 422 in the platform's
error shape, naming where the bad text was, so nothing reaches PostgreSQL and nothing is stored.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from platform_kit.http import ApiError, error_response, field_error, read_whole_body
from platform_kit.text import first_text_problem, nesting_depth_exceeds

MAX_JSON_DEPTH = 32
# Only bodies that may hold a NUL or a surrogate are parsed here; the rest pass untouched.
_SUSPECT = re.compile(rb"\x00|\\u0000|\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class UnstorableTextGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _url_or_header_problem(scope)
        if problem is None and _is_json(scope):
            body, receive = await read_whole_body(receive)
            problem = _json_problem(body)
        if problem is not None:
            where, why = problem
            error = ApiError(
                422,
                "validation_failed",
                "the request has invalid fields",
                [field_error(where, why, "unstorable_text")],
            )
            await error_response(error)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _url_or_header_problem(scope: Scope) -> tuple[str, str] | None:
    nul = "contains a NUL character (U+0000)"
    if "\x00" in scope.get("path", ""):
        return "path", nul
    query: bytes = scope.get("query_string", b"")
    if b"\x00" in query or b"%00" in query:
        return "query", nul
    for name, value in scope.get("headers") or []:
        if b"\x00" in value:
            return f"header.{name.decode('latin-1')}", nul
    return None


def _is_json(scope: Scope) -> bool:
    if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
        return False
    content_type = dict(scope.get("headers") or []).get(b"content-type", b"")
    media = content_type.split(b";")[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


def _json_problem(body: bytes) -> tuple[str, str] | None:
    if nesting_depth_exceeds(body, MAX_JSON_DEPTH):
        return "body", f"nested deeper than {MAX_JSON_DEPTH} levels"
    if not _SUSPECT.search(body):
        return None
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return None  # not JSON: the route's own parsing answers that
    found = first_text_problem(parsed)
    if found is None:
        return None
    where, why = found
    return (f"body.{where}" if where else "body"), why
