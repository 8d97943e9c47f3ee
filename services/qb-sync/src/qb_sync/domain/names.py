"""Display names: what QuickBooks accepts, how to find them with a query, how to compare them.

QuickBooks' query language escapes a quote as `\\'` inside a single-quoted literal; a backslash must
be escaped too (`\\\\`), or a name ending in a backslash swallows the closing quote
(docs/reference/quickbooks-online.md#query-language,
docs/reference/quickbooks-online.md#pitfalls-users-hit). Non-ASCII punctuation (curly quotes, en
dashes) is accepted in a name but breaks the query lexer (4000,
docs/reference/quickbooks-online.md#query-language): such a name is looked up with `LIKE` on its
longest run of characters the lexer takes, and compared exactly here. Name fields may not hold `:`,
tab or newline (`:` separates FullyQualifiedName,
docs/reference/quickbooks-online.md#customer-field-rules): we replace them with a space rather than
fail the push. Every other character, inner spaces included, is kept as typed: names match exactly
(a product requirement: a name links only when it matches exactly, spaces included).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

DISPLAY_NAME_MAX = 500
PAGE = 1000
# A run of forbidden characters, with the spaces around it, becomes one space.
_FORBIDDEN = re.compile(r" *[:\t\r\n]+ *")


def clean_name(name: str, limit: int = DISPLAY_NAME_MAX) -> str:
    """A name QuickBooks accepts: `:`/tab/newline become a space, outer spaces go (QuickBooks
    trims them), at most `limit` characters. Inner spaces are left alone."""
    cleaned = _FORBIDDEN.sub(" ", name).strip()
    return cleaned[:limit].rstrip()


def name_key(name: str) -> str:
    """The loosest comparison QuickBooks may apply to uniqueness (case, outer spaces): two names
    with the same key can never both exist, so their creates are serialized on it."""
    return name.strip().casefold()


def quote_literal(value: str) -> str:
    """`value` as a QuickBooks query string literal, quotes included."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _lexer_safe(ch: str) -> bool:
    return ord(ch) < 128 or unicodedata.category(ch)[0] not in "PS"


def queryable(name: str) -> bool:
    """Whether the name can appear in a query literal without a lexical error."""
    return all(_lexer_safe(ch) for ch in name)


def _longest_safe_run(name: str) -> str:
    """The longest stretch of `name` the lexer takes ("" when there is none: LIKE '%%' then
    scans every record, which the paging copes with)."""
    best = current = ""
    for ch in name:
        if _lexer_safe(ch):
            current += ch
            if len(current) > len(best):
                best = current
        else:
            current = ""
    return best


@dataclass(frozen=True)
class NameQuery:
    """One WHERE clause; run it page by page (STARTPOSITION) until a page is not full."""

    where: str

    def page(self, entity: str, start: int) -> str:
        return (
            f"SELECT * FROM {entity} WHERE {self.where} AND Active IN (true, false)"
            f" STARTPOSITION {start} MAXRESULTS {PAGE}"
        )


def name_queries(names: Iterable[str]) -> list[NameQuery]:
    """Queries that together return every record (active or not: a plain query hides inactive ones,
    docs/reference/quickbooks-online.md#inactive-customers) whose DisplayName may equal one of
    `names`. QuickBooks compares loosely, so the caller keeps only exact matches (`same_name`)."""
    wanted = sorted({n for n in names if n})
    plain = [n for n in wanted if queryable(n)]
    out: list[NameQuery] = []
    if plain:
        out.append(NameQuery(f"DisplayName IN ({', '.join(quote_literal(n) for n in plain)})"))
    for name in wanted:
        if name in plain:
            continue
        run = _longest_safe_run(name)
        out.append(NameQuery(f"DisplayName LIKE {quote_literal('%' + run + '%')}"))
    return out


def by_display_name(entity: str, display_name: str, limit: int = 10) -> str:
    """Every record of `entity` with this display name, active or not."""
    return (
        f"SELECT * FROM {entity} WHERE DisplayName = {quote_literal(display_name)}"
        f" AND Active IN (true, false) MAXRESULTS {limit}"
    )


def same_name(a: str, b: str) -> bool:
    """Exact match (case and inner spaces count): QuickBooks may match loosely, we do not link
    loosely. Outer spaces are ignored since QuickBooks trims them."""
    return a.strip() == b.strip()
