"""Optimistic concurrency over HTTP: ETag is the customer's version, If-Match must equal it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Response

from customer_service.domain.errors import FieldProblem, ValidationFailed


def expected_version(
    if_match: Annotated[str | None, Header(max_length=40)] = None,
) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ValidationFailed([FieldProblem("If-Match", 'must be a version such as "3"')])
    return int(text)


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


IfMatch = Annotated[int | None, Depends(expected_version)]
