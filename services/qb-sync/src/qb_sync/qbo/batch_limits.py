"""Pacing of batch requests per realm, on top of the gateway's pacing of every request.

QuickBooks allows 40 batch requests a minute per company and app (120 per company across apps),
and a batch also counts as one request toward the 500 a minute
(docs/reference/quickbooks-online.md#batch). The gateway takes its usual token for a batch (so
it counts once toward 500/min, 10/s and 10 in flight); this bucket adds the batch limit: at most
burst 1 + `per_minute` batches start in any 60 s, so the default 38 stays under 40.
"""

from __future__ import annotations

from qb_sync.qbo.limits import TokenBucket


class BatchLimits:
    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self._realms: dict[str, TokenBucket] = {}

    async def take(self, realm_id: str) -> None:
        """Wait until the realm may start another batch request."""
        bucket = self._realms.get(realm_id)
        if bucket is None:
            bucket = self._realms[realm_id] = TokenBucket(self.rate, 1.0)
        await bucket.take()
