"""What text PostgreSQL can store: no NUL character and valid UTF-8 (no lone surrogates).

PostgreSQL's text types refuse U+0000, and asyncpg cannot encode a lone surrogate such as the one
`"\\ud800"` decodes to in JSON; either reaching a query fails it. Every way text comes in (HTTP
requests and cursors through platform_kit, Kafka events through the envelope) checks it here, so
the refusal is a clear 4xx or a dead letter with a reason instead.
"""

from __future__ import annotations

from typing import Any


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None when it can."""
    if "\x00" in value:
        return "contains a NUL character (U+0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode text)"
    return None


def first_text_problem(value: Any, path: str = "") -> tuple[str, str] | None:
    """(where, why) for the first unstorable string in a JSON-like value, keys included."""
    if isinstance(value, str):
        problem = text_problem(value)
        return (path, problem) if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = first_text_problem(key, where) if isinstance(key, str) else None
            found = found or first_text_problem(item, where)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = first_text_problem(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None
