"""The emulator's state and services, independent of HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qbo_emulator import faults, query
from qbo_emulator.clock import Clock
from qbo_emulator.injection import FaultBook
from qbo_emulator.namelists import NameLists
from qbo_emulator.settings import Settings
from qbo_emulator.store import Realm, Store, load_snapshot, save_snapshot
from qbo_emulator.throttle import Throttle
from qbo_emulator.tokens import TokenRegistry
from qbo_emulator.webhooks import Notifier


class Emulator:
    def __init__(self, settings: Settings | None = None, snapshot: Path | None = None) -> None:
        self.settings = settings or Settings()
        self.clock = Clock(self.settings)
        self.store = Store()
        self.tokens = TokenRegistry(self.settings, self.clock)
        self.throttle = Throttle(self.settings, self.clock)
        self.faults = FaultBook()
        self.notifier = Notifier(self.settings, self.clock)
        self.lists = NameLists(self.store, self.settings, self.clock, self.notifier.emit)
        self.snapshot = snapshot
        self.dirty = False
        if snapshot is not None and (data := load_snapshot(snapshot)) is not None:
            self.store.load_dict(data.get("store", {}))
            # Settings are not restored: the command line (or defaults) decides them.
            self.tokens.load(data.get("tokens", {}))

    # -- realms ------------------------------------------------------------------------------
    def ensure_realm(
        self,
        realm_id: str | None = None,
        name: str | None = None,
        home_currency: str | None = None,
        *,
        permissive: bool | None = None,
    ) -> Realm:
        """Create (or reuse) a company without issuing tokens. A new realm accepts any bearer
        token only if `permissive` (None: the `permissive_auth` setting); an existing realm
        keeps its mode."""
        realm_id = str(realm_id) if realm_id else self.store.new_realm_id()
        realm = self.store.realms.get(realm_id)
        if realm is None:
            realm = Realm(
                realm_id,
                name or f"Emulated Company {realm_id}",
                home_currency or self.settings.home_currency,
            )
            if permissive is None:
                permissive = self.settings.permissive_auth
            realm.require_tokens = not permissive
            self.store.realms[realm_id] = realm
        self.dirty = True
        return realm

    def add_realm(
        self, realm_id: str | None = None, name: str | None = None, home_currency: str | None = None
    ) -> tuple[Realm, dict[str, Any]]:
        """Create (or reuse) a company and issue a fresh token pair for it. From then on the
        realm only accepts issued tokens."""
        realm = self.ensure_realm(realm_id, name, home_currency, permissive=False)
        realm.require_tokens = True
        return realm, self.tokens.issue(realm.realm_id)

    # -- operations shared by the single-item API and batch ---------------------------------
    def write(self, realm: Realm, kind: str, operation: str, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise faults.QBOFault(
                2010,
                "Request has invalid or unsupported property",
                "The request body must be a JSON object.",
            )
        if operation == "delete":
            # Name lists cannot be deleted, only made inactive (python-quickbooks#289).
            raise faults.unsupported(f"Operation Delete is not supported for {kind}.")
        refused = self.faults.refusal(realm.realm_id, str(payload.get("DisplayName") or ""))
        if refused is not None:
            raise faults.business(refused.detail, element="DisplayName")
        self.dirty = True
        if operation == "update" or clean_id(payload.get("Id")):
            return self.lists.update(realm, kind, payload)
        return self.lists.create(realm, kind, payload)

    def run_query(self, realm: Realm, text: str) -> dict[str, Any]:
        limit = self.settings.max_query_length
        if limit is not None and len(text) > limit:
            # Intuit documents no query length limit; this one is opt-in (emulator decision).
            raise faults.query_error(
                f"The query is {len(text)} characters long; at most {limit} are accepted."
            )
        parsed = query.parse(text, self.settings.reject_non_ascii_punctuation)
        records = [
            self.lists.render(realm, parsed.entity, r)
            for r in realm.entities[parsed.entity].values()
        ]
        return query.run(
            parsed,
            records,
            self.clock.parse,
            clamp_over_max=self.settings.max_results_over_limit == "clamp",
        )

    # -- introspection -----------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return {
            "store": self.store.to_dict(),
            "tokens": self.tokens.dump(),
            "settings": self.settings.as_dict(),
        }

    def state(self) -> dict[str, Any]:
        """Admin view: rendered entities per realm, counters, faults and webhook deliveries."""
        realms = {}
        for rid, realm in self.store.realms.items():
            realms[rid] = {
                "realm_id": rid,
                "name": realm.name,
                "home_currency": realm.home_currency,
                "entities": {
                    kind: {i: self.lists.render(realm, kind, r) for i, r in records.items()}
                    for kind, records in realm.entities.items()
                },
                "deleted": realm.deleted,
                "requestids": sorted(realm.replies),
            }
        return {
            "realms": realms,
            "counters": dict(self.store.counters),
            "creates_by_name": dict(self.store.creates_by_name),
            "faults": self.faults.dump(),
            "settings": self.settings.as_dict(),
            "webhook_deliveries": self.notifier.deliveries,
        }

    def reset(self) -> None:
        self.store.reset()
        self.tokens.clear()
        self.throttle.reset()
        self.faults.clear()
        self.notifier.clear()
        self.dirty = True

    def save(self) -> None:
        if self.snapshot is not None and self.dirty:
            self.dirty = False
            save_snapshot(self.snapshot, self.dump())


def clean_id(value: Any) -> bool:
    """A payload with an Id is an update (python-quickbooks sends no operation=update)."""
    return value not in (None, "", 0, "0")
