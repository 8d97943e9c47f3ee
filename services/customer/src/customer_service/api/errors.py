"""Domain errors become the platform's HTTP error body."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from customer_service.domain.errors import DomainError, ValidationFailed
from platform_kit.http import ApiError, field_error


def api_error_of(exc: DomainError) -> ApiError:
    fields = (
        [field_error(p.field, p.message, p.code) for p in exc.problems]
        if isinstance(exc, ValidationFailed)
        else None
    )
    return ApiError(exc.status, exc.code, exc.message, fields, **exc.extra)


def install_domain_errors(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        error = api_error_of(exc)
        return JSONResponse(error.body(), status_code=error.status)
