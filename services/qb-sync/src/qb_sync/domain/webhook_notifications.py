"""QuickBooks webhook bodies: signature check and the two payload formats
(docs/reference/quickbooks-online.md#webhooks,
docs/reference/quickbooks-online.md#webhook-signature-helper).

- legacy: `{"eventNotifications": [{"realmId", "dataChangeEvent": {"entities": [{"name", "id",
  "operation", "lastUpdated", "deletedId"?}]}}]}`
- CloudEvents: a JSON array of `{"type": "qbo.customer.updated.v1", "intuitentityid",
  "intuitaccountid", "time", "data": {"deletedid"?}}`
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

# CloudEvents type verb -> the legacy operation name, so both formats end up alike.
_OPERATIONS = {
    "created": "Create",
    "updated": "Update",
    "deleted": "Delete",
    "merged": "Merge",
    "voided": "Void",
    "emailed": "Emailed",
}


@dataclass(frozen=True)
class Notification:
    realm_id: str
    entity: str
    entity_id: str
    operation: str
    deleted_id: str | None
    last_updated: str | None


class BadPayload(ValueError):
    pass


def signature_ok(body: bytes, signature: str | None, verifier_token: str) -> bool:
    """`intuit-signature` is base64(HMAC-SHA256(verifier token, raw body)); compared in constant
    time (python-quickbooks' own helper uses `==`)."""
    if not signature or not verifier_token:
        return False
    expected = base64.b64encode(
        hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()
    ).decode()
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def parse_notifications(payload: Any) -> list[Notification]:
    if isinstance(payload, list):
        return [_cloud_event(item) for item in payload]
    if isinstance(payload, dict) and isinstance(payload.get("eventNotifications"), list):
        return [n for block in payload["eventNotifications"] for n in _legacy_block(block)]
    raise BadPayload("neither eventNotifications nor a CloudEvents array")


def _text(value: Any, what: str) -> str:
    if value is None or value == "":
        raise BadPayload(f"{what} is missing")
    return str(value)


def _legacy_block(block: Any) -> list[Notification]:
    if not isinstance(block, dict):
        raise BadPayload("an eventNotifications item is not an object")
    realm = _text(block.get("realmId"), "realmId")
    entities = (block.get("dataChangeEvent") or {}).get("entities") or []
    out = []
    for entity in entities:
        if not isinstance(entity, dict):
            raise BadPayload("an entity is not an object")
        deleted = entity.get("deletedId") or entity.get("deletedid")
        out.append(
            Notification(
                realm_id=realm,
                entity=_text(entity.get("name"), "entity name"),
                entity_id=_text(entity.get("id"), "entity id"),
                operation=_text(entity.get("operation"), "operation"),
                deleted_id=str(deleted) if deleted else None,
                last_updated=entity.get("lastUpdated"),
            )
        )
    return out


def _cloud_event(item: Any) -> Notification:
    if not isinstance(item, dict):
        raise BadPayload("a CloudEvent is not an object")
    kind = _text(item.get("type"), "type")  # qbo.<entity>.<verb>.v1
    parts = kind.split(".")
    if len(parts) < 3:
        raise BadPayload(f"unexpected CloudEvent type {kind!r}")
    entity, verb = parts[1], parts[2]
    raw_data = item.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    deleted = data.get("deletedid") or data.get("deletedId")
    return Notification(
        realm_id=_text(item.get("intuitaccountid"), "intuitaccountid"),
        entity=entity[:1].upper() + entity[1:],
        entity_id=_text(item.get("intuitentityid"), "intuitentityid"),
        operation=_OPERATIONS.get(verb.lower(), verb[:1].upper() + verb[1:]),
        deleted_id=str(deleted) if deleted else None,
        last_updated=item.get("time"),
    )
