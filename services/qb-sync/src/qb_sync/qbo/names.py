"""Display names: what QuickBooks accepts, how to quote them in a query, how to compare them.

QuickBooks' query language escapes a quote as `\\'` inside a single-quoted literal; a backslash
must be escaped too (`\\\\`), or a name ending in a backslash swallows the closing quote (qbo.md
2.8, 7 #5). Name fields may not hold `:`, tab or newline (`:` separates FullyQualifiedName,
qbo.md 2.2): we replace them with a space rather than fail the push.
"""

from __future__ import annotations

import re

DISPLAY_NAME_MAX = 500
_FORBIDDEN = re.compile(r"[:\t\r\n]+")


def clean_name(name: str, limit: int = DISPLAY_NAME_MAX) -> str:
    """A name QuickBooks accepts: `:`/tab/newline become one space, outer spaces go, at most
    `limit` characters."""
    cleaned = _FORBIDDEN.sub(" ", name)
    cleaned = re.sub(r" {2,}", " ", cleaned).strip()
    return cleaned[:limit].rstrip()


def quote_literal(value: str) -> str:
    """`value` as a QuickBooks query string literal, quotes included."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def by_display_name(entity: str, display_name: str, limit: int = 10) -> str:
    """Every record of `entity` with this display name, active or not (a plain query hides
    inactive ones, which would turn "not found" into a 6240 on create)."""
    return (
        f"SELECT * FROM {entity} WHERE DisplayName = {quote_literal(display_name)}"
        f" AND Active IN (true, false) MAXRESULTS {limit}"
    )


def same_name(a: str, b: str) -> bool:
    """Exact match (case and inner spaces count): QuickBooks may match loosely, we do not link
    loosely. Outer spaces are ignored since QuickBooks trims them."""
    return a.strip() == b.strip()
