"""Create, read, update and merge for Customer, Vendor and Employee (the name lists).

Customers get the full treatment (sub-customers, balances, currency); vendors and employees keep
their documented writable fields (addresses, account numbers, tax ids) and share the
DisplayName space with customers (6240).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from qbo_emulator import faults
from qbo_emulator.clock import Clock
from qbo_emulator.indexes import RealmIndex
from qbo_emulator.rules import (
    SPARSE_KEEP,
    WRITE_ON_CREATE,
    clean,
    derived_display_name,
    validate,
    writable,
)
from qbo_emulator.settings import Settings
from qbo_emulator.store import Realm, Store

PRINT_NAME_MAX = 110  # the default PrintOnCheckName is the DisplayName cut to its limit
MAX_LEVEL = 4  # five levels in all: the top customer plus four below it

# (realm_id, entity, id, operation, deleted_id)
ChangeHook = Callable[[str, str, str, str, str | None], None]

CURRENCY_NAMES = {
    "USD": "United States Dollar",
    "CAD": "Canadian Dollar",
    "EUR": "Euro",
    "GBP": "British Pound Sterling",
    "AUD": "Australian Dollar",
}


class NameLists:
    def __init__(
        self, store: Store, settings: Settings, clock: Clock, on_change: ChangeHook
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.on_change = on_change

    # -- reads -------------------------------------------------------------------------------
    def get(self, realm: Realm, kind: str, entity_id: str) -> dict[str, Any]:
        record = realm.entities[kind].get(str(entity_id))
        if record is None:
            raise faults.not_found(str(entity_id))
        return self.render(realm, kind, record)

    def render(self, realm: Realm, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        """The wire form: only properties with values, plus computed read-only fields."""
        out = {k: copy.deepcopy(v) for k, v in record.items() if clean(v) is not None}
        out["Active"] = record.get("Active", True)
        out["domain"] = "QBO"
        out["sparse"] = False
        if kind == "Customer":
            chain = self.ancestry(realm, record)
            out["FullyQualifiedName"] = ":".join(c["DisplayName"] for c in reversed(chain))
            out["Job"] = bool(record.get("Job", False))
            out["BillWithParent"] = bool(record.get("BillWithParent", False))
            out["IsProject"] = False
            out["Balance"] = record.get("Balance", 0)
            out["BalanceWithJobs"] = self.balance_with_jobs(realm, record)
            if out["Job"]:
                out["Level"] = len(chain) - 1
                parent = chain[1] if len(chain) > 1 else None
                if parent is not None:
                    out["ParentRef"] = {"value": parent["Id"]}
        return out

    def ancestry(self, realm: Realm, record: dict[str, Any]) -> list[dict[str, Any]]:
        """The record, its parent, grandparent ... (cut at a cycle, which writes prevent)."""
        chain = [record]
        seen = {record["Id"]}
        while (parent_id := (chain[-1].get("ParentRef") or {}).get("value")) is not None:
            parent = realm.customers.get(str(parent_id))
            if parent is None or parent["Id"] in seen:
                break
            chain.append(parent)
            seen.add(parent["Id"])
        return chain

    def index(self, realm: Realm) -> RealmIndex:
        mode = self.settings.name_compare
        if realm.index is None or realm.index_mode != mode:
            realm.index = RealmIndex(realm.entities, self._name_key)
            realm.index_mode = mode
        index: RealmIndex = realm.index
        return index

    def children(self, realm: Realm, customer_id: str) -> list[dict[str, Any]]:
        return self.index(realm).children(realm.customers, customer_id)

    def balance_with_jobs(self, realm: Realm, record: dict[str, Any]) -> float:
        total = float(record.get("Balance", 0) or 0)
        for child in self.children(realm, record["Id"]):
            total += self.balance_with_jobs(realm, child)
        return total

    def subtree_height(self, realm: Realm, customer_id: str) -> int:
        kids = self.children(realm, customer_id)
        return 1 + max((self.subtree_height(realm, k["Id"]) for k in kids), default=-1)

    # -- writes ------------------------------------------------------------------------------
    def create(self, realm: Realm, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        record = self._writable_part(kind, payload)
        if kind == "Customer":
            for key in WRITE_ON_CREATE:
                if (value := clean(payload.get(key))) is not None:
                    record[key] = value
            currency = record.get("CurrencyRef") or {"value": realm.home_currency}
            code = str(currency.get("value", realm.home_currency))
            record["CurrencyRef"] = {"value": code, "name": CURRENCY_NAMES.get(code, code)}
            record.setdefault("Balance", 0)
        if not record.get("DisplayName"):
            derived = derived_display_name(record)
            if derived is None:
                raise faults.required(
                    "DisplayName", "DisplayName or at least one name component is required."
                )
            record["DisplayName"] = derived
        record.setdefault("PrintOnCheckName", record["DisplayName"][:PRINT_NAME_MAX])
        record.setdefault("Active", True)
        self._check(realm, kind, record, previous=None)
        stamp = self.clock.stamp()
        record["Id"] = realm.allocate_id()
        record["SyncToken"] = "0"
        record["MetaData"] = {"CreateTime": stamp, "LastUpdatedTime": stamp}
        realm.entities[kind][record["Id"]] = record
        self.index(realm).add(kind, record)
        self.store.creates_by_name[f"{realm.realm_id}:{record['DisplayName']}"] += 1
        self.on_change(realm.realm_id, kind, record["Id"], "Create", None)
        return self.render(realm, kind, record)

    def update(self, realm: Realm, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        entity_id = clean(payload.get("Id"))
        if entity_id is None:
            raise faults.required("Id")
        current = realm.entities[kind].get(str(entity_id))
        if current is None:
            raise faults.not_found(str(entity_id))
        token = payload.get("SyncToken")
        if token is None or token == "":
            # An update needs Id and SyncToken; 2020 is QBO's "Required param
            # missing" (its exact answer for SyncToken is n/v: emulator decision).
            raise faults.required("SyncToken")
        if str(token) != current["SyncToken"]:
            raise faults.stale_object()
        sparse = payload.get("sparse") is True or str(payload.get("sparse")).lower() == "true"
        record = (
            self._sparse_merge(kind, current, payload)
            if sparse
            else self._full_replace(kind, current, payload)
        )
        if kind == "Customer":
            sent = clean(payload.get("CurrencyRef"))
            if sent is not None and sent.get("value") != current["CurrencyRef"]["value"]:
                raise faults.business(
                    "CurrencyRef can't be changed once set.", element="CurrencyRef"
                )
            self._check_deactivation(realm, current, record)
        self._check(realm, kind, record, previous=current)
        record["SyncToken"] = str(int(current["SyncToken"]) + 1)
        record["MetaData"] = {
            "CreateTime": current["MetaData"]["CreateTime"],
            "LastUpdatedTime": self.clock.stamp(),
        }
        realm.entities[kind][record["Id"]] = record
        self.index(realm).add(kind, record)
        self.on_change(realm.realm_id, kind, record["Id"], "Update", None)
        return self.render(realm, kind, record)

    def merge(self, realm: Realm, from_id: str, into_id: str) -> dict[str, Any]:
        """Customer merge: `from_id` disappears into `into_id` (balances and jobs move)."""
        source = realm.customers.get(from_id)
        target = realm.customers.get(into_id)
        if source is None or target is None or from_id == into_id:
            raise faults.not_found(from_id if source is None else into_id)
        for child in self.children(realm, from_id):
            child["ParentRef"] = {"value": into_id}
            self.index(realm).add("Customer", child)
        target["Balance"] = float(target.get("Balance", 0) or 0) + float(
            source.get("Balance", 0) or 0
        )
        target["SyncToken"] = str(int(target["SyncToken"]) + 1)
        stamp = self.clock.stamp()
        target["MetaData"]["LastUpdatedTime"] = stamp
        del realm.customers[from_id]
        realm.deleted[from_id] = {
            "Id": from_id,
            "status": "Deleted",
            "MergedInto": into_id,
            "MetaData": {"LastUpdatedTime": stamp},
        }
        self.on_change(realm.realm_id, "Customer", into_id, "Merge", from_id)
        return self.render(realm, "Customer", target)

    # -- helpers -----------------------------------------------------------------------------
    def _writable_part(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        allowed = writable(kind)
        return {
            k: v for k, raw in payload.items() if k in allowed and (v := clean(raw)) is not None
        }

    def _keep_fixed(self, current: dict[str, Any], record: dict[str, Any]) -> None:
        record["Id"] = current["Id"]
        for key in WRITE_ON_CREATE:
            if key in current:
                record[key] = current[key]

    def _full_replace(
        self, kind: str, current: dict[str, Any], payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Full update: writable fields left out are cleared."""
        record = self._writable_part(kind, payload)
        self._keep_fixed(current, record)
        if not record.get("DisplayName"):
            record["DisplayName"] = derived_display_name(record) or current["DisplayName"]
        record.setdefault("PrintOnCheckName", record["DisplayName"][:PRINT_NAME_MAX])
        record.setdefault("Active", True)
        return record

    def _sparse_merge(
        self, kind: str, current: dict[str, Any], payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Sparse update: only the fields sent change; `""` clears one (the library's trap)."""
        record = copy.deepcopy(current)
        for key in writable(kind) & payload.keys():
            value = clean(payload[key])
            if value is not None:
                record[key] = value
            elif key not in SPARSE_KEEP:
                record.pop(key, None)
        self._keep_fixed(current, record)
        return record

    def _check(
        self, realm: Realm, kind: str, record: dict[str, Any], previous: dict[str, Any] | None
    ) -> None:
        validate(record)
        if kind == "Customer":
            self._check_parent(realm, record)
        self._check_unique(realm, kind, record)

    def _check_parent(self, realm: Realm, record: dict[str, Any]) -> None:
        parent_id = (record.get("ParentRef") or {}).get("value")
        is_job = record.get("Job") is True
        if (parent_id is None) == is_job:
            raise faults.QBOFault(
                6150,
                "ParentRef Required Error",
                "ParentRef is either required or not if Job is true or false.",
                element="Job",
            )
        if parent_id is None:
            return
        parent = realm.customers.get(str(parent_id))
        if parent is None:
            raise faults.QBOFault(
                2500,
                "Invalid Reference Id",
                f"Invalid Reference Id : Customer {parent_id}",
                element="ParentRef",
            )
        chain = self.ancestry(realm, parent)
        own_id = record.get("Id")
        if own_id is not None and any(c["Id"] == own_id for c in chain):
            raise faults.business("A customer can't be its own parent.", element="ParentRef")
        height = self.subtree_height(realm, own_id) if own_id else 0
        if len(chain) + height > MAX_LEVEL:
            raise faults.business(
                "Sub-customers can only be nested five levels deep.", element="ParentRef"
            )

    def _name_key(self, name: str) -> str:
        return name.strip().casefold() if self.settings.name_compare == "casefold" else name

    def _check_unique(self, realm: Realm, kind: str, record: dict[str, Any]) -> None:
        for other_kind, other in self.index(realm).named(realm.entities, record["DisplayName"]):
            if other_kind == kind and other["Id"] == record.get("Id"):
                continue
            if not other.get("Active", True) and not self.settings.reserve_inactive_names:
                continue
            raise faults.duplicate_name(other["Id"])

    def _check_deactivation(
        self, realm: Realm, current: dict[str, Any], record: dict[str, Any]
    ) -> None:
        deactivating = current.get("Active", True) and record.get("Active", True) is False
        if deactivating and self.settings.refuse_deactivate_with_balance:
            if self.balance_with_jobs(realm, current) != 0:
                raise faults.deactivate_with_balance()
