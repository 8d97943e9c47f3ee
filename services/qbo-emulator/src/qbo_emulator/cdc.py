"""Change data capture: every changed name-list object since a time, capped, no paging."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from qbo_emulator import faults
from qbo_emulator.clock import Clock
from qbo_emulator.namelists import NameLists
from qbo_emulator.settings import Settings
from qbo_emulator.store import NAME_LISTS, Realm


def changes(
    lists: NameLists,
    settings: Settings,
    clock: Clock,
    realm: Realm,
    entities: str | None,
    since: str | None,
) -> dict[str, Any]:
    if not entities:
        raise faults.required("entities")
    if not since:
        raise faults.required("changedSince")
    names = [e.strip() for e in entities.split(",") if e.strip()]
    for name in names:
        if name not in NAME_LISTS:
            raise faults.business(
                f"Entity {name} is not supported by this emulator's CDC.", element="entities"
            )
    try:
        cutoff = clock.parse(since)
    except ValueError as exc:
        raise faults.QBOFault(2020, "Invalid changedSince", f"Unparseable date {since!r}") from exc
    if cutoff < clock.now() - timedelta(days=settings.cdc_max_days):
        # Message from Wish-Org/QuickBooksSharp#19; the code is not documented (emulator decision).
        raise faults.QBOFault(
            6000,
            "A business validation error has occurred while processing your request",
            f"Operation cdc with changedSince date {since} which is older than fixed days is not supported.",
            element="changedSince",
        )
    changed: list[tuple[Any, str, dict[str, Any]]] = []
    for name in names:
        for record in realm.entities[name].values():
            updated = clock.parse(record["MetaData"]["LastUpdatedTime"])
            if updated >= cutoff:
                changed.append((updated, name, lists.render(realm, name, record)))
        if name == "Customer":
            for stub in realm.deleted.values():
                updated = clock.parse(stub["MetaData"]["LastUpdatedTime"])
                if updated >= cutoff:
                    changed.append(
                        (updated, name, {k: v for k, v in stub.items() if k != "MergedInto"})
                    )
    changed.sort(key=lambda item: (item[0], int(item[2]["Id"])))
    kept = changed[: settings.cdc_max_objects]  # the oldest ones; the caller narrows its window
    responses: list[dict[str, Any]] = []
    for name in names:
        objects = [obj for _, kind, obj in kept if kind == name]
        responses.append(
            {name: objects, "startPosition": 1, "maxResults": len(objects)} if objects else {}
        )
    return {"CDCResponse": [{"QueryResponse": responses}]}
