"""The headers every dead letter carries, wherever it is written (the consumer, or later through
the outbox for a record whose offset was committed long ago).

`dlq-reason` is one short line, for lists, alerts and `grep`; the full text of the error (a
multi-line validation report, say) is in `dlq-detail`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

REASON_MAX = 300
DETAIL_MAX = 4000
HEADER_PREFIX = "dlq-"


def one_line(text: str, limit: int = REASON_MAX) -> str:
    """Whitespace (newlines included) collapsed to single spaces, cut at `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def dead_letter_headers(
    *,
    reason: str,
    error_type: str,
    attempts: int,
    consumer: str,
    topic: str,
    partition: int,
    offset: int,
    detail: str | None = None,
) -> dict[str, str]:
    return {
        "dlq-reason": one_line(reason),
        "dlq-detail": (detail if detail is not None else reason)[:DETAIL_MAX],
        "dlq-error-type": error_type,
        "dlq-attempts": str(attempts),
        "dlq-consumer": consumer,
        "dlq-source-topic": topic,
        "dlq-source-partition": str(partition),
        "dlq-source-offset": str(offset),
        "dlq-time": str(int(time.time() * 1000)),
    }


def without_dead_letter_headers(
    headers: Iterable[tuple[str, bytes]],
) -> list[tuple[str, bytes]]:
    """The original record's headers, for a replay."""
    return [(k, v) for k, v in headers if not k.startswith(HEADER_PREFIX)]
