"""Test control API under `/_admin`: seed, inspect, reset, configure, inject faults."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException

from qbo_emulator import faults, injection
from qbo_emulator.emulator import Emulator
from qbo_emulator.store import Realm


def build_router(emu: Emulator) -> APIRouter:
    router = APIRouter(prefix="/_admin")

    def realm_of(realm_id: str) -> Realm:
        realm = emu.store.realms.get(realm_id)
        if realm is None:
            raise HTTPException(404, f"unknown realm {realm_id}")
        return realm

    def fault_to_http(fault: faults.QBOFault) -> HTTPException:
        return HTTPException(400, {"Fault": fault.body()})

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/state")
    async def state() -> dict[str, Any]:
        return emu.state()

    @router.get("/requests")
    async def requests_log() -> list[dict[str, Any]]:
        return emu.store.request_log

    @router.post("/reset")
    async def reset() -> dict[str, str]:
        emu.reset()
        return {"status": "reset"}

    @router.get("/config")
    async def get_config() -> dict[str, Any]:
        return emu.settings.as_dict()

    @router.patch("/config")
    async def set_config(values: dict[str, Any] = Body(...)) -> dict[str, Any]:
        try:
            emu.settings.update(values)
        except KeyError as exc:
            raise HTTPException(400, str(exc)) from exc
        emu.dirty = True
        return emu.settings.as_dict()

    @router.post("/realms")
    async def add_realm(spec: dict[str, Any] = Body(default={})) -> dict[str, Any]:
        realm, tokens = emu.add_realm(
            spec.get("realm_id"), spec.get("name"), spec.get("home_currency")
        )
        return {"realm_id": realm.realm_id, **tokens}

    @router.post("/realms/{realm_id}/tokens")
    async def new_tokens(realm_id: str) -> dict[str, Any]:
        realm_of(realm_id).require_tokens = True
        emu.dirty = True
        return {"realm_id": realm_id, **emu.tokens.issue(realm_id)}

    @router.post("/tokens/expire")
    async def expire(spec: dict[str, Any] = Body(default={})) -> dict[str, int]:
        return {"expired": emu.tokens.expire(spec.get("realm_id"))}

    @router.post("/tokens/revoke")
    async def revoke(spec: dict[str, Any] = Body(default={})) -> dict[str, int]:
        return {
            "revoked": emu.tokens.revoke(token=spec.get("token"), realm_id=spec.get("realm_id"))
        }

    @router.post("/realms/{realm_id}/customers/{customer_id}/edit")
    async def other_user_edit(
        realm_id: str, customer_id: str, fields: dict[str, Any] = Body(default={})
    ) -> dict[str, Any]:
        """A concurrent edit by another QBO user: a sparse change that bumps the SyncToken."""
        realm = realm_of(realm_id)
        current = realm.customers.get(customer_id)
        if current is None:
            raise HTTPException(404, f"unknown customer {customer_id}")
        payload = {**fields, "Id": customer_id, "SyncToken": current["SyncToken"], "sparse": True}
        try:
            return emu.lists.update(realm, "Customer", payload)
        except faults.QBOFault as fault:
            raise fault_to_http(fault) from fault

    @router.post("/realms/{realm_id}/merge")
    async def merge(realm_id: str, spec: dict[str, Any] = Body(...)) -> dict[str, Any]:
        realm = realm_of(realm_id)
        try:
            merged = emu.lists.merge(realm, str(spec["from_id"]), str(spec["into_id"]))
        except faults.QBOFault as fault:
            raise fault_to_http(fault) from fault
        emu.dirty = True
        return merged

    @router.post("/realms/{realm_id}/seed")
    async def seed_realm(realm_id: str, spec: dict[str, Any] = Body(default={})) -> dict[str, Any]:
        """Create the realm if needed, without tokens, and add names: {"customers": [...],
        "vendors": [...], "employees": [...]} (DisplayName strings). `permissive` (default: the
        `permissive_auth` setting) decides whether a realm created here accepts any bearer
        token; an existing realm keeps its mode."""
        permissive = spec.get("permissive")
        realm = emu.ensure_realm(
            realm_id,
            spec.get("name"),
            spec.get("home_currency"),
            permissive=None if permissive is None else bool(permissive),
        )
        created: dict[str, list[dict[str, Any]]] = {}
        for kind, entity in (
            ("customers", "Customer"),
            ("vendors", "Vendor"),
            ("employees", "Employee"),
        ):
            created[kind] = []
            for name in spec.get(kind, []):
                record = name if isinstance(name, dict) else {"DisplayName": name}
                try:
                    created[kind].append(emu.lists.create(realm, entity, record))
                except faults.QBOFault as fault:
                    raise fault_to_http(fault) from fault
        emu.dirty = True
        return {"realm_id": realm.realm_id, **created}

    @router.put("/realms/{realm_id}/auth")
    async def set_auth(realm_id: str, spec: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """{"require_tokens": bool}: whether only issued access tokens are accepted."""
        realm = realm_of(realm_id)
        realm.require_tokens = bool(spec["require_tokens"])
        emu.dirty = True
        return {"realm_id": realm_id, "require_tokens": realm.require_tokens}

    @router.put("/realms/{realm_id}/limits")
    async def set_limits(realm_id: str, spec: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Per-realm throttle limits: per_minute, per_second, concurrent, batch_per_minute
        (null or absent: the settings' value, QuickBooks' own by default)."""
        known = {"per_minute", "per_second", "concurrent", "batch_per_minute"}
        if set(spec) - known:
            raise HTTPException(400, f"unknown limits {sorted(set(spec) - known)}")
        limits = {k: int(v) for k, v in spec.items() if v is not None}
        emu.throttle.limits[realm_id] = {**emu.throttle.limits.get(realm_id, {}), **limits}
        for key in [k for k, v in spec.items() if v is None]:
            emu.throttle.limits[realm_id].pop(key, None)
        return {"realm_id": realm_id, "limits": emu.throttle.limits[realm_id]}

    @router.get("/realms/{realm_id}/counters")
    async def realm_counters(realm_id: str) -> dict[str, Any]:
        """/v3 requests received for the realm (throttled ones included), 429s answered, and
        429s by the limit that refused them."""
        counters = emu.store.counters
        prefix = f"throttled:{realm_id}:"
        return {
            "requests": counters[f"requests:{realm_id}"],
            "throttled": counters[f"throttled:{realm_id}"],
            "throttled_by_limit": {
                key[len(prefix) :]: n for key, n in counters.items() if key.startswith(prefix)
            },
        }

    @router.get("/realms/{realm_id}/customers")
    async def realm_customers(realm_id: str) -> dict[str, Any]:
        """Every customer of the realm, inactive ones included, keyed by Id."""
        realm = realm_of(realm_id)
        return {i: emu.lists.render(realm, "Customer", r) for i, r in realm.customers.items()}

    # Declared after /merge so that the path parameter does not swallow it.
    @router.post("/realms/{realm_id}/{kind}")
    async def seed(
        realm_id: str, kind: str, records: list[dict[str, Any]] = Body(...)
    ) -> list[dict[str, Any]]:
        """Seed customers, vendors or employees through the normal rules; `MetaData` given in a
        record overrides the server stamps (for CDC windows)."""
        realm = realm_of(realm_id)
        entity = {"customers": "Customer", "vendors": "Vendor", "employees": "Employee"}.get(kind)
        if entity is None:
            raise HTTPException(404, f"unknown list {kind}")
        out = []
        for record in records:
            try:
                created = emu.lists.create(realm, entity, record)
            except faults.QBOFault as fault:
                raise fault_to_http(fault) from fault
            stored = realm.entities[entity][created["Id"]]
            if "Active" in record:
                stored["Active"] = bool(record["Active"])
            if isinstance(record.get("MetaData"), dict):
                stored["MetaData"].update(record["MetaData"])
            out.append(emu.lists.render(realm, entity, stored))
        emu.dirty = True
        return out

    @router.get("/faults")
    async def list_faults() -> list[dict[str, Any]]:
        return emu.faults.dump()

    @router.post("/faults")
    async def add_fault(spec: dict[str, Any] = Body(...)) -> dict[str, Any]:
        try:
            emu.faults.add(spec)
        except (TypeError, ValueError) as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"faults": emu.faults.dump()}

    @router.put("/faults")
    async def set_faults(spec: dict[str, Any] = Body(default={})) -> dict[str, Any]:
        """Replace every fault rule with the simple settings (see injection.simple_rules)."""
        try:
            rules = injection.simple_rules(spec)
            emu.faults.clear()
            for rule in rules:
                emu.faults.add(rule)
        except (TypeError, ValueError) as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"faults": emu.faults.dump()}

    @router.delete("/faults")
    async def clear_faults() -> dict[str, str]:
        emu.faults.clear()
        return {"status": "cleared"}

    @router.get("/webhooks")
    async def webhooks() -> list[dict[str, Any]]:
        return emu.notifier.deliveries

    @router.post("/webhooks/{seq}/redeliver")
    async def redeliver(seq: int) -> dict[str, Any]:
        """Send notification `seq` again, byte for byte (QuickBooks may deliver twice)."""
        try:
            return emu.notifier.redeliver(seq)
        except IndexError as exc:
            raise HTTPException(404, f"no webhook delivery {seq}") from exc

    @router.post("/webhooks/hold")
    async def hold_webhooks() -> dict[str, Any]:
        """Keep new notifications back until released (a stalled delivery queue)."""
        emu.notifier.hold()
        return {"holding": True}

    @router.post("/webhooks/release")
    async def release_webhooks(spec: dict[str, Any] = Body(default={})) -> dict[str, Any]:
        """Stop holding and send the held notifications: {"order": "fifo" | "reverse" |
        [seq, ...]} (default fifo; a list must name every held one, in the order wanted)."""
        try:
            released = emu.notifier.release(spec.get("order", "fifo"))
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"released": released}

    @router.post("/snapshot")
    async def snapshot() -> dict[str, Any]:
        emu.dirty = True
        emu.save()
        return {"saved": str(emu.snapshot) if emu.snapshot else None}

    return router
