"""Errors the domain raises; the API layer turns each into its HTTP status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str
    code: str = "invalid"


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"

    def __init__(self, problems: list[FieldProblem], message: str = "", **extra: Any) -> None:
        super().__init__(message or "the request has invalid fields", **extra)
        self.problems = problems


class NotFound(DomainError):
    status = 404
    code = "not_found"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class PushInFlight(Conflict):
    """A QuickBooks customer that a push from the platform is creating: it links to that
    customer when the push ends, so it cannot become another one."""

    code = "push_in_flight"


@dataclass
class Problems:
    """Collects field problems so one response names every bad field, not just the first."""

    items: list[FieldProblem] = field(default_factory=list)

    def add(self, field_name: str, message: str, code: str = "invalid") -> None:
        self.items.append(FieldProblem(field_name, message, code))

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationFailed(self.items)
