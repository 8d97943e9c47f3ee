"""How a person's answer to a `conflict` changes what the row counts as reconciled."""

from __future__ import annotations

from typing import Any

from qb_sync.domain import fields

Json = dict[str, Any]


def settle(
    platform_content: Json | None,
    pushed_content: Json | None,
    conflict: Json | None,
    wanted: Json,
    keep: str,
) -> tuple[Json, Json | None]:
    """(new platform_content, new pushed_content). keep=quickbooks: the platform's values of the
    conflicting fields count as reconciled, so they are not pushed (later platform changes are).
    keep=platform: those fields are pushed over what QuickBooks holds now (`pushed_content`,
    read when the conflict arose)."""
    per_field = {k: v for k, v in (conflict or {}).items() if isinstance(v, dict)}
    if not per_field:
        # A conflict recorded without its fields (older rows): decide for the whole customer,
        # reading QuickBooks afresh on the next push.
        return (dict(wanted) if keep == "quickbooks" else {}), None
    platform = dict(platform_content or {})
    for name in per_field:
        key = fields.PARENT_KEY if name in fields.PARENT_FIELDS else name
        if keep == "platform":
            platform[key] = fields.FORCE_PUSH
        elif key in wanted:
            platform[key] = wanted[key]
        else:
            platform.pop(key, None)
    return platform, pushed_content
