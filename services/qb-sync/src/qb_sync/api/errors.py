"""Use-case errors become the platform's HTTP error body."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from platform_kit.http import ApiError, field_error
from qb_sync.domain.errors import UseCaseError


def api_error_of(exc: UseCaseError) -> ApiError:
    fields = [field_error(p.field, p.message, p.code) for p in exc.problems] or None
    return ApiError(exc.status, exc.code, exc.message, fields, **exc.extra)


def install_use_case_errors(app: FastAPI) -> None:
    @app.exception_handler(UseCaseError)
    async def use_case_error(_request: Request, exc: UseCaseError) -> JSONResponse:
        error = api_error_of(exc)
        return JSONResponse(error.body(), status_code=error.status)
