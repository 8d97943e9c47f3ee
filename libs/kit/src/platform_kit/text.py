"""What text PostgreSQL can store: no NUL character and valid UTF-8 (no lone surrogates).

PostgreSQL's text types refuse U+0000, and asyncpg cannot encode a lone surrogate such as the one
`"\\ud800"` decodes to in JSON; either reaching a query is a 500. Every way text comes in (HTTP
requests, cursors, Kafka events) checks it here first, so the refusal is a clear 4xx or a dead
letter with a reason instead.
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


def nesting_depth_exceeds(body: bytes, limit: int) -> bool:
    """True when JSON `body` nests arrays/objects deeper than `limit` (brackets inside strings
    are skipped). Deep nesting makes json.loads recurse until it fails; no body of ours nests
    past a handful of levels."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # cannot be deeper than the number of openers: the usual, cheap answer
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False
