"""In-memory state: realms with their name lists, replay cache and counters.

Everything is plain JSON-able dicts so the state dump and the snapshot file are the same thing.
Handlers run on the server's single event loop without awaiting mid-change, so no locks.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAME_LISTS = ("Customer", "Vendor", "Employee")


@dataclass
class Realm:
    realm_id: str
    name: str
    home_currency: str = "USD"
    next_id: int = 1
    entities: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {kind: {} for kind in NAME_LISTS}
    )
    # Ids merged away: shown in CDC as Deleted stubs.
    deleted: dict[str, dict[str, Any]] = field(default_factory=dict)
    # requestid -> stored first response (status, body, fingerprint, at)
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    # True (the default, as in QuickBooks): only access tokens the emulator issued for this realm
    # are accepted. False only for realms seeded with permissive auth or auto-created; set back
    # to True once tokens are issued for the realm, or by the admin API.
    require_tokens: bool = True
    # Lookup index (indexes.RealmIndex) with the name-compare mode it was built for; never
    # saved, rebuilt on first use.
    index: Any = field(default=None, repr=False, compare=False)
    index_mode: str | None = field(default=None, repr=False, compare=False)

    def allocate_id(self) -> str:
        value = str(self.next_id)
        self.next_id += 1
        return value

    @property
    def customers(self) -> dict[str, dict[str, Any]]:
        return self.entities["Customer"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "realm_id": self.realm_id,
            "name": self.name,
            "home_currency": self.home_currency,
            "next_id": self.next_id,
            "entities": self.entities,
            "deleted": self.deleted,
            "replies": self.replies,
            "require_tokens": self.require_tokens,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Realm:
        realm = cls(data["realm_id"], data["name"], data.get("home_currency", "USD"))
        realm.next_id = data.get("next_id", 1)
        realm.entities.update(data.get("entities", {}))
        realm.deleted = data.get("deleted", {})
        realm.replies = data.get("replies", {})
        realm.require_tokens = data.get("require_tokens", True)
        return realm


@dataclass
class Store:
    realms: dict[str, Realm] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    creates_by_name: Counter[str] = field(default_factory=Counter)
    request_log: list[dict[str, Any]] = field(default_factory=list)
    next_realm: int = 9130350000000001

    LOG_LIMIT = 5000

    def new_realm_id(self) -> str:
        while str(self.next_realm) in self.realms:
            self.next_realm += 1
        return str(self.next_realm)

    def log(self, entry: dict[str, Any]) -> None:
        self.request_log.append(entry)
        if len(self.request_log) > self.LOG_LIMIT:
            del self.request_log[: len(self.request_log) - self.LOG_LIMIT]

    def to_dict(self) -> dict[str, Any]:
        return {
            "realms": {rid: realm.to_dict() for rid, realm in self.realms.items()},
            "counters": dict(self.counters),
            "creates_by_name": dict(self.creates_by_name),
            "next_realm": self.next_realm,
        }

    def load_dict(self, data: dict[str, Any]) -> None:
        self.realms = {rid: Realm.from_dict(r) for rid, r in data.get("realms", {}).items()}
        self.counters = Counter(data.get("counters", {}))
        self.creates_by_name = Counter(data.get("creates_by_name", {}))
        self.next_realm = data.get("next_realm", self.next_realm)

    def reset(self) -> None:
        self.realms.clear()
        self.counters.clear()
        self.creates_by_name.clear()
        self.request_log.clear()


def save_snapshot(path: Path, data: dict[str, Any]) -> None:
    """Write atomically so a crash never leaves half a snapshot."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


def load_snapshot(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded
