"""The operations behind the /v3 routes, each a function of (realm, body text, parameters)."""

from __future__ import annotations

import json
from typing import Any

from qbo_emulator import batch, cdc, faults
from qbo_emulator.emulator import Emulator
from qbo_emulator.pipeline import Operation
from qbo_emulator.store import Realm

ENTITY_PATHS = {"customer": "Customer", "vendor": "Vendor", "employee": "Employee"}


def parse_json(body: str) -> Any:
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise faults.QBOFault(
            2010, "Request has invalid or unsupported property", f"Unparseable JSON: {exc}"
        ) from exc


def post(emu: Emulator, entity: str, path: str, url: str) -> Operation:
    """POST /{entity}: a query, a batch, or a create/update of a name-list entity."""

    def op(realm: Realm, body: str, params: dict[str, str]) -> dict[str, Any]:
        if entity == "query":
            return {"QueryResponse": emu.run_query(realm, body)}
        if entity == "batch":
            return run_batch(emu, realm, parse_json(body), params.get("requestid"))
        kind = ENTITY_PATHS.get(entity.lower())
        if kind is None:
            raise faults.unknown_resource("POST", path, url)
        operation = params.get("operation", "").lower()
        return {kind: emu.write(realm, kind, operation, parse_json(body))}

    return op


def run_batch(emu: Emulator, realm: Realm, payload: Any, request_id: str | None) -> dict[str, Any]:
    items = payload.get("BatchItemRequest") if isinstance(payload, dict) else None
    if emu.settings.batch_counts_items and isinstance(items, list) and len(items) > 1:
        # The batch request was admitted as one; charge the rest of its items.
        emu.throttle.charge(realm.realm_id, len(items) - 1)
    return batch.run(
        realm,
        payload,
        request_id,
        emu.write,
        emu.run_query,
        max_items=emu.settings.batch_max_items,
    )


def query(emu: Emulator) -> Operation:
    """GET /query?query=..."""

    def op(realm: Realm, body: str, params: dict[str, str]) -> dict[str, Any]:
        return {"QueryResponse": emu.run_query(realm, params.get("query", ""))}

    return op


def changes(emu: Emulator) -> Operation:
    """GET /cdc?entities=...&changedSince=..."""

    def op(realm: Realm, body: str, params: dict[str, str]) -> dict[str, Any]:
        return cdc.changes(
            emu.lists,
            emu.settings,
            emu.clock,
            realm,
            params.get("entities"),
            params.get("changedSince"),
        )

    return op


def read(emu: Emulator, entity: str, entity_id: str, path: str, url: str) -> Operation:
    """GET /{entity}/{id}"""

    def op(realm: Realm, body: str, params: dict[str, str]) -> dict[str, Any]:
        kind = ENTITY_PATHS.get(entity.lower())
        if kind is None:
            raise faults.unknown_resource("GET", path, url)
        return {kind: emu.lists.get(realm, kind, entity_id)}

    return op
