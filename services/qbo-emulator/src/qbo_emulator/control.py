"""The test-control use cases behind the `/_admin` routes: seed, edit as another user, merge,
limits and counters. A refusal raises `AdminError`, which the app answers as
`{"detail": ...}` with its status (the admin API is the emulator's own, not QuickBooks')."""

from __future__ import annotations

from typing import Any

from qbo_emulator import faults, injection
from qbo_emulator.emulator import Emulator
from qbo_emulator.store import Realm

LISTS = {"customers": "Customer", "vendors": "Vendor", "employees": "Employee"}
LIMIT_NAMES = {"per_minute", "per_second", "concurrent", "batch_per_minute"}


class AdminError(Exception):
    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def realm_of(emu: Emulator, realm_id: str) -> Realm:
    realm = emu.store.realms.get(realm_id)
    if realm is None:
        raise AdminError(404, f"unknown realm {realm_id}")
    return realm


def _refused(fault: faults.QBOFault) -> AdminError:
    return AdminError(400, {"Fault": fault.body()})


def other_user_edit(
    emu: Emulator, realm_id: str, customer_id: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """A concurrent edit by another QBO user: a sparse change that bumps the SyncToken."""
    realm = realm_of(emu, realm_id)
    current = realm.customers.get(customer_id)
    if current is None:
        raise AdminError(404, f"unknown customer {customer_id}")
    payload = {**fields, "Id": customer_id, "SyncToken": current["SyncToken"], "sparse": True}
    try:
        return emu.lists.update(realm, "Customer", payload)
    except faults.QBOFault as fault:
        raise _refused(fault) from fault


def merge(emu: Emulator, realm_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    realm = realm_of(emu, realm_id)
    try:
        merged = emu.lists.merge(realm, str(spec["from_id"]), str(spec["into_id"]))
    except faults.QBOFault as fault:
        raise _refused(fault) from fault
    emu.dirty = True
    return merged


def seed_realm(emu: Emulator, realm_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Create the realm if needed, without tokens, and add names: {"customers": [...],
    "vendors": [...], "employees": [...]} (DisplayName strings or records). `permissive`
    (default: the `permissive_auth` setting) decides whether a realm created here accepts any
    bearer token; an existing realm keeps its mode."""
    permissive = spec.get("permissive")
    realm = emu.ensure_realm(
        realm_id,
        spec.get("name"),
        spec.get("home_currency"),
        permissive=None if permissive is None else bool(permissive),
    )
    created: dict[str, list[dict[str, Any]]] = {}
    for kind, entity in LISTS.items():
        created[kind] = []
        for name in spec.get(kind, []):
            record = name if isinstance(name, dict) else {"DisplayName": name}
            try:
                created[kind].append(emu.lists.create(realm, entity, record))
            except faults.QBOFault as fault:
                raise _refused(fault) from fault
    emu.dirty = True
    return {"realm_id": realm.realm_id, **created}


def seed_records(
    emu: Emulator, realm_id: str, kind: str, records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Seed customers, vendors or employees through the normal rules; `Active` and `MetaData`
    given in a record override the server's (for CDC windows)."""
    realm = realm_of(emu, realm_id)
    entity = LISTS.get(kind)
    if entity is None:
        raise AdminError(404, f"unknown list {kind}")
    out = []
    for record in records:
        try:
            created = emu.lists.create(realm, entity, record)
        except faults.QBOFault as fault:
            raise _refused(fault) from fault
        stored = realm.entities[entity][created["Id"]]
        if "Active" in record:
            stored["Active"] = bool(record["Active"])
        if isinstance(record.get("MetaData"), dict):
            stored["MetaData"].update(record["MetaData"])
        out.append(emu.lists.render(realm, entity, stored))
    emu.dirty = True
    return out


def set_limits(emu: Emulator, realm_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Per-realm throttle limits: per_minute, per_second, concurrent, batch_per_minute (null or
    absent: the settings' value, QuickBooks' own by default)."""
    unknown = set(spec) - LIMIT_NAMES
    if unknown:
        raise AdminError(400, f"unknown limits {sorted(unknown)}")
    limits = emu.throttle.limits.setdefault(realm_id, {})
    for key, value in spec.items():
        if value is None:
            limits.pop(key, None)
        else:
            limits[key] = int(value)
    return {"realm_id": realm_id, "limits": limits}


def realm_counters(emu: Emulator, realm_id: str) -> dict[str, Any]:
    """/v3 requests received for the realm (throttled ones included), 429s answered, and 429s by
    the limit that refused them."""
    counters = emu.store.counters
    prefix = f"throttled:{realm_id}:"
    return {
        "requests": counters[f"requests:{realm_id}"],
        "throttled": counters[f"throttled:{realm_id}"],
        "throttled_by_limit": {
            key[len(prefix) :]: n for key, n in counters.items() if key.startswith(prefix)
        },
    }


def realm_customers(emu: Emulator, realm_id: str) -> dict[str, Any]:
    """Every customer of the realm, inactive ones included, keyed by Id."""
    realm = realm_of(emu, realm_id)
    return {i: emu.lists.render(realm, "Customer", r) for i, r in realm.customers.items()}


def replace_faults(emu: Emulator, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Replace every fault rule with the simple settings (see injection.simple_rules)."""
    try:
        rules = injection.simple_rules(spec)
        emu.faults.clear()
        for rule in rules:
            emu.faults.add(rule)
    except (TypeError, ValueError) as exc:
        raise AdminError(400, str(exc)) from exc
    return emu.faults.dump()


def add_fault(emu: Emulator, spec: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        emu.faults.add(spec)
    except (TypeError, ValueError) as exc:
        raise AdminError(400, str(exc)) from exc
    return emu.faults.dump()


def configure(emu: Emulator, values: dict[str, Any]) -> dict[str, Any]:
    try:
        emu.settings.update(values)
    except KeyError as exc:
        raise AdminError(400, str(exc)) from exc
    emu.dirty = True
    return emu.settings.as_dict()
