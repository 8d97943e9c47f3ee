"""Lookups that would otherwise scan a whole name list for every write or rendered record:
DisplayName keys (uniqueness, 6240) and a customer's jobs (BalanceWithJobs, nesting depth).

Entries are only ever added; readers check each candidate against the current record, so an
entry left behind by a rename, a merge or a move is harmless. Kept beside a realm, never saved:
a realm loaded from a snapshot starts without one and it is rebuilt on first use."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

NameKey = Callable[[str], str]


class RealmIndex:
    def __init__(self, entities: dict[str, dict[str, dict[str, Any]]], key: NameKey) -> None:
        self.key = key
        self.names: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.jobs: dict[str, set[str]] = defaultdict(set)
        for kind, records in entities.items():
            for record in records.values():
                self.add(kind, record)

    def add(self, kind: str, record: dict[str, Any]) -> None:
        self.names[self.key(record["DisplayName"])].add((kind, record["Id"]))
        parent = (record.get("ParentRef") or {}).get("value")
        if kind == "Customer" and parent is not None:
            self.jobs[str(parent)].add(record["Id"])

    def named(
        self, entities: dict[str, dict[str, dict[str, Any]]], name: str
    ) -> list[tuple[str, dict[str, Any]]]:
        """(kind, record) of every record whose DisplayName has the same key as `name`."""
        key = self.key(name)
        found = []
        for kind, entity_id in sorted(self.names.get(key, ()), key=lambda pair: int(pair[1])):
            record = entities[kind].get(entity_id)
            if record is not None and self.key(record["DisplayName"]) == key:
                found.append((kind, record))
        return found

    def children(
        self, customers: dict[str, dict[str, Any]], customer_id: str
    ) -> list[dict[str, Any]]:
        kids = []
        for child_id in sorted(self.jobs.get(customer_id, ()), key=int):
            child = customers.get(child_id)
            if child is not None and (child.get("ParentRef") or {}).get("value") == customer_id:
                kids.append(child)
        return kids
