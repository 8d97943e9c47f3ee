"""Every answer a route can give, in its OpenAPI document, with the platform's error body.

FastAPI documents a route's success answer and a 422 in its own error shape. The platform's
answers are wider, and come from shared mechanisms rather than from each route, so they are
documented here from the same facts that produce them:

- 401/403 on every route that takes a bearer token (platform_kit.auth),
- 404 on every route with a path parameter (what it names may not exist, or not for this tenant),
- 400 and 413 on every route with a request body (a body that cannot be parsed; one over the
  limit, platform_kit.http.BodySizeLimit),
- 422 on every route (input validation; a NUL in any header or query: platform_kit.request_guard),
- and whatever a route declares itself with `responses=` (409, 400, 202...), given the error
  body's schema when it names none.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
ERROR_SCHEMAS: dict[str, Any] = {
    "ErrorBody": {
        "title": "ErrorBody",
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"$ref": "#/components/schemas/ErrorDetail"}},
    },
    "ErrorDetail": {
        "title": "ErrorDetail",
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "description": "machine-readable, e.g. not_found"},
            "message": {"type": "string"},
            "fields": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
        },
        "additionalProperties": True,
    },
    "FieldError": {
        "title": "FieldError",
        "type": "object",
        "required": ["field", "code", "message"],
        "properties": {
            "field": {"type": "string"},
            "code": {"type": "string"},
            "message": {"type": "string"},
        },
    },
}
_DESCRIPTIONS = {
    "400": "Bad request (e.g. a body that is not UTF-8 JSON)",
    "401": "Missing, unknown or revoked bearer token",
    "403": "The token lacks the scope this route needs",
    "404": "Not found (or not in the caller's tenant)",
    "409": "Conflict with the stored state",
    "413": "Request body too large",
    "415": "Unsupported media type",
    "422": "Invalid input",
    "503": "Not ready",
}


def document_errors(app: FastAPI) -> None:
    """Make `app.openapi()` describe the platform's error answers (computed once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, routes=app.routes, servers=app.servers
            )
            complete(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(ERROR_SCHEMAS)
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            _complete_operation(operation)


def _complete_operation(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    statuses: set[str] = set()
    parameters = operation.get("parameters", [])
    if operation.get("security"):
        statuses |= {"401", "403"}
    if any(p.get("in") == "path" for p in parameters):
        statuses.add("404")
    if "requestBody" in operation:
        statuses |= {"400", "413"}
    statuses.add("422")  # any request: a NUL in a header or the query is refused everywhere
    for status in statuses:
        responses.setdefault(status, {"description": _DESCRIPTIONS[status]})
    for status, response in responses.items():
        # FastAPI's own 422 names its error shape, not the platform's: replaced too.
        if status[:1] in ("4", "5") and ("content" not in response or status == "422"):
            response["content"] = {"application/json": {"schema": ERROR_REF}}
            response.setdefault("description", _DESCRIPTIONS.get(status, "Error"))
