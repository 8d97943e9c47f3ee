"""Does a new JSON Schema of an event still accept everything an existing consumer relies on?

Breaking (needs a new `.vN` type instead): a field removed, a field's type changed, a new required
field, a required field made optional (consumers rely on it being there), a nested model changed in
one of those ways. Descriptions, titles and defaults may change; a new optional field is fine.
An enum under a pattern (ISO 4217 codes under `^[A-Z]{3}$`) may be added or follow the standard:
the pattern is what consumers rely on, and every listed value must match it.

One narrowing is allowed: a field named `currency` that was a plain string may become an ISO 4217
code (the three-letter pattern with the enum of assigned codes). Narrowing a field is a break
when a producer may have published a value the new schema refuses; no producer could here. The
currency of every billing fact (`billing.balance-changed`, `credit-limit-exceeded`,
`overdue-changed`) is the currency of an account, and an account exists only once a transaction
in it was applied, whose `Money` never accepted anything but an ISO 4217 code (billing dead-letters
the transaction instead, `tests/contract/test_event_schemas.py`). So every fact ever published
already carries such a code; the schema now says so, and the customer service refuses the rest.
"""

from __future__ import annotations

import re
from typing import Any

from platform_events.money import ISO_4217_CODES

CURRENCY_FIELD = "currency"
CURRENCY_PATTERN = r"^[A-Z]{3}$"

_COSMETIC = {"description", "title", "default", "examples"}


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    problems = _compare_object("", old, new)
    old_defs, new_defs = old.get("$defs", {}), new.get("$defs", {})
    for name, old_def in old_defs.items():
        if name not in new_defs:
            problems.append(f"$defs/{name}: nested model removed")
            continue
        problems += _compare_object(f"$defs/{name}.", old_def, new_defs[name])
    return problems


def _compare_object(prefix: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for field_name, old_schema in old_props.items():
        if field_name not in new_props:
            problems.append(f"{prefix}{field_name}: field removed")
        elif _shape(old_schema) != _shape(new_props[field_name]) and not (
            field_name == CURRENCY_FIELD
            and _shape(old_schema) == _shape(_without_currency_code(new_props[field_name]))
        ):
            problems.append(f"{prefix}{field_name}: type changed")
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for field_name in sorted(new_required - old_required):
        problems.append(f"{prefix}{field_name}: new required field")
    for field_name in sorted(old_required - new_required):
        if field_name in new_props:
            problems.append(f"{prefix}{field_name}: no longer required")
    if old.get("enum") is not None and old.get("enum") != new.get("enum"):
        problems.append(f"{prefix}enum values changed")
    return problems


def _shape(schema: Any) -> Any:
    """The part of a property schema that decides what values it accepts."""
    if isinstance(schema, dict):
        ignored = _COSMETIC | ({"enum"} if _enum_refines_pattern(schema) else set())
        return {k: _shape(v) for k, v in schema.items() if k not in ignored}
    if isinstance(schema, list):
        return [_shape(item) for item in schema]
    return schema


def _enum_refines_pattern(schema: dict[str, Any]) -> bool:
    pattern, values = schema.get("pattern"), schema.get("enum")
    if not isinstance(pattern, str) or not isinstance(values, list):
        return False
    return all(isinstance(v, str) and re.search(pattern, v) for v in values)


def _without_currency_code(schema: Any) -> Any:
    """`schema` with the ISO 4217 narrowing (pattern and enum of assigned codes) taken out, also
    inside `anyOf` (a nullable currency): what it was before the narrowing, if it was a plain
    string."""
    if isinstance(schema, list):
        return [_without_currency_code(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("pattern") == CURRENCY_PATTERN and set(schema.get("enum", ())) <= set(
        ISO_4217_CODES
    ):
        schema = {k: v for k, v in schema.items() if k not in ("pattern", "enum")}
    return {k: _without_currency_code(v) for k, v in schema.items()}
