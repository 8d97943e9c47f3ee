"""The subset of QuickBooks' query language that name-list sync needs.

SELECT * | COUNT(*) FROM Entity [WHERE p op v [AND ...]] [ORDER BY|ORDERBY p [ASC|DESC], ...]
[STARTPOSITION n] [MAXRESULTS n]. Anything else is fault 4000, as QBO's parser answers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qbo_emulator import faults

ENTITIES = ("Customer", "Vendor", "Employee")
OPERATORS = ("<=", ">=", "=", "<", ">")
DEFAULT_PAGE = 100
MAX_PAGE = 1000
# The properties a WHERE (and here also an ORDER BY) may name: the Customer reference's filterable set.
# Property names match case-insensitively (`Metadata.LastUpdatedTime` is QBO's own spelling).
FILTERABLE = {
    name.lower(): name
    for name in (
        "Id",
        "DisplayName",
        "GivenName",
        "FamilyName",
        "CompanyName",
        "Active",
        "FullyQualifiedName",
        "MetaData.LastUpdatedTime",
    )
}


@dataclass
class Token:
    kind: str  # "word", "string", "number", "symbol"
    text: str
    value: Any
    column: int


@dataclass
class Condition:
    field: str
    op: str  # one of OPERATORS, "IN" or "LIKE"
    values: list[Any]


@dataclass
class Query:
    entity: str
    count: bool
    where: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    start: int = 1
    max_results: int | None = None


def _lexical(column: int, char: str) -> faults.QBOFault:
    return faults.query_error(
        f'Lexical error at line 1, column {column}.  Encountered: "{char}" ({ord(char)}), after : ""'
    )


def tokenize(text: str, reject_non_ascii_punctuation: bool) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "'":
            start, i, chars = i, i + 1, []
            while True:
                if i >= len(text):
                    raise faults.query_error(
                        f"Lexical error at line 1, column {len(text) + 1}.  Encountered: <EOF> after : "
                        f'"{text[start:]}"'
                    )
                if text[i] == "\\" and i + 1 < len(text):
                    chars.append(text[i + 1])  # backslash escapes the next character
                    i += 2
                    continue
                if text[i] == "'":
                    i += 1
                    break
                if (
                    reject_non_ascii_punctuation
                    and ord(text[i]) > 127
                    and unicodedata.category(text[i])[0] in "PS"
                ):
                    raise _lexical(i + 1, text[i])
                chars.append(text[i])
                i += 1
            literal = "".join(chars)
            tokens.append(Token("string", text[start:i], literal, start + 1))
        elif ch.isdigit() or (ch == "-" and i + 1 < len(text) and text[i + 1].isdigit()):
            match = re.match(r"-?\d+(\.\d+)?", text[i:])
            assert match is not None
            number = float(match.group()) if match.group(1) else int(match.group())
            tokens.append(Token("number", match.group(), number, i + 1))
            i += len(match.group())
        elif ch.isalpha() or ch == "_":
            match = re.match(r"[A-Za-z_][A-Za-z0-9_.]*", text[i:])
            assert match is not None
            tokens.append(Token("word", match.group(), match.group(), i + 1))
            i += len(match.group())
        elif text.startswith(("<=", ">="), i):
            tokens.append(Token("symbol", text[i : i + 2], text[i : i + 2], i + 1))
            i += 2
        elif ch in "*(),=<>":
            tokens.append(Token("symbol", ch, ch, i + 1))
            i += 1
        else:
            raise _lexical(i + 1, ch)
    return tokens


class Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def fail(self) -> faults.QBOFault:
        token = self.peek()
        found = f'"{token.text}" at line 1, column {token.column}' if token else "<EOF>"
        return faults.query_error(f"Encountered {found}. Was expecting one of: ...")

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise self.fail()
        self.pos += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.upper() in words:
            self.pos += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise self.fail()

    def expect_symbol(self, symbol: str) -> None:
        token = self.peek()
        if token is None or token.kind != "symbol" or token.text != symbol:
            raise self.fail()
        self.pos += 1

    def value(self) -> Any:
        token = self.take()
        if token.kind in ("string", "number"):
            return token.value
        if token.kind == "word" and token.text.lower() in ("true", "false"):
            return token.text.lower() == "true"
        self.pos -= 1
        raise self.fail()

    def field_name(self) -> str:
        token = self.take()
        if token.kind != "word":
            self.pos -= 1
            raise self.fail()
        return token.text

    def integer(self) -> int:
        token = self.take()
        if token.kind != "number" or not isinstance(token.value, int):
            self.pos -= 1
            raise self.fail()
        return int(token.value)

    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        count = False
        if self.keyword("COUNT"):
            self.expect_symbol("(")
            self.expect_symbol("*")
            self.expect_symbol(")")
            count = True
        else:
            self.expect_symbol("*")
        self.expect_keyword("FROM")
        entity = self.field_name()
        if entity not in ENTITIES:  # entity names are case-sensitive in QBO
            raise faults.query_error(f"Invalid entity name: {entity}")
        query = Query(entity=entity, count=count)
        if self.keyword("WHERE"):
            query.where.append(self.condition())
            while self.keyword("AND"):
                query.where.append(self.condition())
        if self.keyword("ORDERBY") or self.order_by():
            query.order.append(self.order_item())
            while (token := self.peek()) is not None and token.text == ",":
                self.pos += 1
                query.order.append(self.order_item())
        while self.peek() is not None:
            if self.keyword("STARTPOSITION"):
                query.start = self.integer()
            elif self.keyword("MAXRESULTS"):
                query.max_results = self.integer()
            else:
                raise self.fail()
        return query

    def order_by(self) -> bool:
        """`ORDER BY` as two words (python-quickbooks' all() emits it; where() emits ORDERBY)."""
        if not self.keyword("ORDER"):
            return False
        self.expect_keyword("BY")
        return True

    def condition(self) -> Condition:
        name = self.field_name()
        if self.keyword("IN"):
            self.expect_symbol("(")
            values = [self.value()]
            while (token := self.peek()) is not None and token.text == ",":
                self.pos += 1
                values.append(self.value())
            self.expect_symbol(")")
            return Condition(name, "IN", values)
        if self.keyword("LIKE"):
            pattern = self.value()
            if not isinstance(pattern, str):
                raise self.fail()
            return Condition(name, "LIKE", [pattern])
        token = self.take()
        if token.kind != "symbol" or token.text not in OPERATORS:
            self.pos -= 1
            raise self.fail()
        return Condition(name, token.text, [self.value()])

    def order_item(self) -> tuple[str, bool]:
        name = self.field_name()
        descending = False
        if self.keyword("DESC"):
            descending = True
        else:
            self.keyword("ASC")
        return name, descending


def parse(text: str, reject_non_ascii_punctuation: bool = True) -> Query:
    query = Parser(tokenize(text, reject_non_ascii_punctuation)).parse()
    for name in [c.field for c in query.where] + [name for name, _ in query.order]:
        if name.lower() not in FILTERABLE:
            raise not_queryable(name)
    return query


def not_queryable(name: str) -> faults.QBOFault:
    """QBO's answer for a property that exists but is not filterable (ruckus/quickbooks-ruby#403,
    intuit/QuickBooks-V3-DotNET-SDK#163); used for unknown properties too (emulator decision)."""
    return faults.QBOFault(
        4001, "Invalid query", f"QueryValidationError: property '{name}' is not queryable"
    )


# -- evaluation ---------------------------------------------------------------------------------
def lookup(record: dict[str, Any], path: str) -> Any:
    """Property paths are matched case-insensitively (`Metadata.LastUpdatedTime` works)."""
    current: Any = record
    for part in path.split("."):
        if not isinstance(current, dict):
            return None
        match = next((k for k in current if k.lower() == part.lower()), None)
        current = current.get(match) if match is not None else None
    return current


def _normalise(path: str, value: Any, parse_time: Callable[[str], datetime]) -> Any:
    if value is None:
        return None
    if path.lower() == "id":
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    if path.lower().endswith("time") and isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        return value.casefold()
    return value


def _matches(
    record: dict[str, Any], cond: Condition, parse_time: Callable[[str], datetime]
) -> bool:
    actual = _normalise(cond.field, lookup(record, cond.field), parse_time)
    wanted = [_normalise(cond.field, v, parse_time) for v in cond.values]
    if cond.op == "IN":
        return actual in wanted
    if actual is None:
        return False
    if cond.op == "LIKE":
        regex = ".*".join(re.escape(part) for part in str(cond.values[0]).casefold().split("%"))
        return re.fullmatch(regex, str(actual), re.DOTALL) is not None
    target = wanted[0]
    try:
        if cond.op == "=":
            return bool(actual == target)
        if cond.op == "<":
            return bool(actual < target)
        if cond.op == ">":
            return bool(actual > target)
        if cond.op == "<=":
            return bool(actual <= target)
        return bool(actual >= target)
    except TypeError:
        return False


def run(
    query: Query,
    records: list[dict[str, Any]],
    parse_time: Callable[[str], datetime],
    clamp_over_max: bool = True,
) -> dict[str, Any]:
    """Filter, sort and page rendered records into a `QueryResponse` body."""
    conditions = list(query.where)
    if not any(c.field.lower() == "active" for c in conditions):
        conditions.append(Condition("Active", "=", [True]))  # QBO hides inactive by default
    rows = [r for r in records if all(_matches(r, c, parse_time) for c in conditions)]
    if query.count:
        return {"totalCount": len(rows)}
    rows.sort(key=lambda r: int(r["Id"]))
    for name, descending in reversed(query.order):  # stable sorts, last key first
        keyed = [(_normalise(name, lookup(r, name), parse_time), r) for r in rows]
        present = [pair for pair in keyed if pair[0] is not None]
        missing = [r for key, r in keyed if key is None]
        present.sort(key=lambda pair: pair[0], reverse=descending)
        ordered = [r for _, r in present]
        rows = ordered + missing if descending else missing + ordered
    limit = DEFAULT_PAGE if query.max_results is None else query.max_results
    if limit > MAX_PAGE:
        if not clamp_over_max:
            raise faults.max_results_too_large(limit, MAX_PAGE)
        limit = MAX_PAGE
    start = max(query.start, 1)
    page = rows[start - 1 : start - 1 + limit]
    if not page:
        return {}
    return {query.entity: page, "startPosition": start, "maxResults": len(page)}
