"""Batch: up to 30 independent items, each answered with its own object, query or Fault."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qbo_emulator import faults
from qbo_emulator.store import NAME_LISTS, Realm

MAX_ITEMS = 30
MAX_BATCH_REQUESTID = 36  # checked by the API before the batch runs
MAX_BID_WITH_REQUESTID = 10  # Intuit basic field definitions: with a batch requestid, bId <= 10

QueryRunner = Callable[[Realm, str], dict[str, Any]]
Writer = Callable[[Realm, str, str, dict[str, Any]], dict[str, Any]]


def run(
    realm: Realm,
    body: Any,
    request_id: str | None,
    write: Writer,
    query: QueryRunner,
    *,
    max_items: int = MAX_ITEMS,
) -> dict[str, Any]:
    """The whole request is refused (one Fault) only when it is not a batch or is too big;
    otherwise every item gets its own answer and the others go on."""
    items = body.get("BatchItemRequest") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise faults.required("BatchItemRequest")
    if len(items) > max_items:
        raise faults.business(
            f"The batch has {len(items)} items; at most {max_items} are allowed.",
            element="BatchItemRequest",
        )
    return {"BatchItemResponse": [_item(realm, item, request_id, write, query) for item in items]}


def _item(
    realm: Realm, item: Any, request_id: str | None, write: Writer, query: QueryRunner
) -> dict[str, Any]:
    bid = str(item.get("bId", "")) if isinstance(item, dict) else ""
    try:
        if not isinstance(item, dict) or not bid:
            raise faults.required("bId")
        if request_id is not None and len(bid) > MAX_BID_WITH_REQUESTID:
            # The rule is documented, its answer is not: a per-item 6000 (emulator decision).
            raise faults.business(
                f"You cannot enter more than {MAX_BID_WITH_REQUESTID} characters in the bId "
                f"field of a batch sent with a requestid. The bId field is {len(bid)} characters.",
                element="bId",
            )
        if "Query" in item:
            return {"bId": bid, "QueryResponse": query(realm, str(item["Query"]))}
        entity = next((k for k in NAME_LISTS if k in item), None)
        if entity is None:
            raise faults.unsupported(
                "Only Customer, Vendor, Employee and Query batch items are emulated."
            )
        operation = str(item.get("operation", "create")).lower()
        return {"bId": bid, entity: write(realm, entity, operation, item[entity])}
    except faults.QBOFault as fault:
        return {"bId": bid, "Fault": fault.body()}
