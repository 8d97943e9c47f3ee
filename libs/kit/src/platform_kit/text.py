"""Request text checks: the storable-text rules (platform_events.text) and JSON nesting depth."""

from __future__ import annotations

from platform_events.text import first_text_problem, text_problem

__all__ = ["first_text_problem", "nesting_depth_exceeds", "text_problem"]


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
