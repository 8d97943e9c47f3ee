"""Why a use case refused a request. Each kind carries the HTTP status the API answers with
(api/errors.py turns it into the platform's error body), so use cases never import FastAPI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str
    code: str = "invalid"


class UseCaseError(Exception):
    status = 400

    def __init__(
        self, code: str, message: str, problems: list[FieldProblem] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.problems = problems or []
        self.extra = extra


class BadRequest(UseCaseError):
    status = 400


class Unauthorized(UseCaseError):
    status = 401


class NotFound(UseCaseError):
    status = 404

    def __init__(self, message: str) -> None:
        super().__init__("not_found", message)


class Conflict(UseCaseError):
    """The request clashes with the current state (the code says which state)."""

    status = 409


class ValidationFailed(UseCaseError):
    status = 422

    def __init__(self, message: str, problem: FieldProblem) -> None:
        super().__init__("validation_failed", message, [problem])


class UpstreamFailed(UseCaseError):
    """QuickBooks or Intuit's OAuth answered, but not with what the request needs."""

    status = 502


class UpstreamUnavailable(UseCaseError):
    status = 503
