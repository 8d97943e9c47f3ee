"""A batch of customer writes: one `POST /batch` of up to 30 `create` or `update` items.

python-quickbooks' `batch_create` gives items 36-character uuid bIds and sends no requestid
(docs/reference/quickbooks-online.md#library-batch), so we build the body ourselves (bIds of at
most 10 characters) and post it with `QuickBooks.post(..., request_id=...)`, which puts a
batch requestid (at most 36 characters) on the query string. QuickBooks' replay of a batch
requestid is not something to rely on (docs/reference/quickbooks-online.md#idempotency-requestid),
and the items themselves carry no requestid: an answer that does not arrive (timeout, cut
connection, 5xx) is never retried here. `send` returns None instead, and the caller finds by
name what was applied before anything is sent again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from quickbooks import QuickBooks

from qb_sync.qbo.batch_limits import BatchLimits
from qb_sync.qbo.errors import Transient
from qb_sync.qbo.gateway import CallLease, QboGateway

Json = dict[str, Any]

MAX_ITEMS = 30  # QuickBooks' documented maximum per batch
MAX_BID = 10  # a bId's length limit when the batch carries a requestid
MAX_REQUEST_ID = 36  # a batch requestid's length limit


@dataclass(frozen=True)
class BatchItem:
    bid: str
    operation: str  # create | update
    payload: str  # the Customer body, JSON


def batch_body(items: Sequence[BatchItem]) -> str:
    """The request body, each item's frozen payload embedded byte for byte."""
    if not 1 <= len(items) <= MAX_ITEMS:
        raise ValueError(f"a batch holds 1 to {MAX_ITEMS} items, not {len(items)}")
    parts = []
    for item in items:
        if len(item.bid) > MAX_BID:
            raise ValueError(f"bId {item.bid!r} is longer than {MAX_BID} characters")
        parts.append(
            f'{{"bId": {json.dumps(item.bid)}, "operation": {json.dumps(item.operation)}, '
            f'"Customer": {item.payload}}}'
        )
    return '{"BatchItemRequest": [' + ", ".join(parts) + "]}"


class BatchCalls:
    def __init__(
        self,
        gateway: QboGateway,
        limits: BatchLimits,
        tenant_id: str,
        realm_id: str,
        lease: CallLease | None,
        *,
        counts_items: bool = False,
    ) -> None:
        # Whether QuickBooks charges each item toward the 500 a minute (our reading of its
        # documents: the batch counts once; docs/reference/quickbooks-online.md#batch).
        self.counts_items = counts_items
        self.gateway = gateway
        self.limits = limits
        self.tenant_id = tenant_id
        self.realm_id = realm_id
        self.lease = lease

    async def send(self, items: Sequence[BatchItem], request_id: str) -> dict[str, Json] | None:
        """Each item's answer by bId (`{"Customer": ...}` or `{"Fault": ...}`; an item missing
        from the answer is absent), or None when the answer was lost: applied or not, unknown."""
        if len(request_id) > MAX_REQUEST_ID:
            raise ValueError(f"a batch requestid has at most {MAX_REQUEST_ID} characters")
        body = batch_body(items)
        await self.limits.take(self.realm_id)
        if self.counts_items:  # the gateway takes one token for the request: the rest here
            bucket = self.gateway.limits.of(self.realm_id).bucket
            for _ in range(len(items) - 1):
                await bucket.take()

        def post(qb: QuickBooks) -> Any:
            url = f"{qb.api_url}/company/{qb.company_id}/batch"
            try:
                return qb.post(url, body, request_id=request_id)
            except Transient:
                return None  # not retried: the caller finds what was applied first

        reply = await self.gateway.call(
            self.tenant_id,
            self.realm_id,
            f"push.batch.{items[0].operation}",
            post,
            lease=self.lease,
        )
        if reply is None:
            return None
        return {str(a.get("bId")): a for a in reply.get("BatchItemResponse") or []}
