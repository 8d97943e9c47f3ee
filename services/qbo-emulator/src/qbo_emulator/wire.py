"""What QuickBooks puts on every answer: the `intuit_tid` header, and JSON with a `time` field."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import Response


def tid_header() -> dict[str, str]:
    """QuickBooks tags every answer (faults, throttling and the token endpoint included) with a
    transaction id, which clients log (intuit-oauth's AuthClientError reads it)."""
    return {"intuit_tid": str(uuid.uuid4())}


def json_answer(status: int, payload: Any = None, *, text: str | None = None) -> Response:
    body = text if text is not None else json.dumps(payload)
    return Response(body, status_code=status, media_type="application/json", headers=tid_header())
