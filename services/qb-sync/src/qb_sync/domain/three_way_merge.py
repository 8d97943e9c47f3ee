"""The three-way merge after QuickBooks answered 5010 (someone else saved the customer since our
SyncToken): per field the platform wants to change, compare what we last knew QuickBooks held
(`base`), what the platform wants (`ours`) and what QuickBooks holds now (`theirs`)."""

from __future__ import annotations

from typing import Any

from qb_sync.domain import fields
from qb_sync.domain.outcomes import Outcome

Json = dict[str, Any]


def three_way(
    held: Json, wanted_qb: Json, diff: Json, theirs: Json, latest: Json
) -> Json | Outcome:
    """QuickBooks still has the base value, or already has ours -> fine; QuickBooks has a third
    value -> conflict. Returns the fields still to send (on the fresh SyncToken), or the
    conflict outcome naming each clashing field."""
    clashes: Json = {}
    remaining: Json = {}
    for name, value in diff.items():
        before, ours, now = held.get(name), wanted_qb.get(name), theirs.get(name)
        if now == ours:
            continue  # already there (e.g. our earlier update whose answer was lost)
        if now != before:
            clashes[name] = {"platform": ours, "quickbooks": now, "base": before}
        else:
            remaining[name] = value
    if clashes:
        return Outcome(
            "conflict",
            code="conflict",
            message="changed in QuickBooks and on the platform: " + ", ".join(sorted(clashes)),
            customer=latest,
            qb_content=theirs,
            conflict=clashes,
        )
    # QuickBooks takes Job and ParentRef together: one of them still to send brings the other.
    if any(f in remaining for f in fields.PARENT_FIELDS):
        for f in fields.PARENT_FIELDS:
            if f in diff:
                remaining.setdefault(f, diff[f])
    return remaining


def still_stale(
    held: Json, wanted_qb: Json, diff: Json, latest: Json | None, tries: int
) -> Outcome:
    """Still 5010 after `tries` merges: a conflict recording every field still to send, so
    resolving it knows what is at stake."""
    return Outcome(
        "conflict",
        code="5010",
        message=f"still stale after {tries} tries",
        customer=latest,
        qb_content=held,
        conflict={
            name: {
                "platform": wanted_qb.get(name),
                "quickbooks": held.get(name),
                "base": held.get(name),
            }
            for name in diff
        },
    )
