"""The QuickBooks calls a push makes for one row: find by name, read, create, sparse update.
Each goes through the gateway (pacing, retries, tokens) under the row's lease, so no attempt
starts once the lease cannot cover it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quickbooks import QuickBooks

from qb_sync.domain import names
from qb_sync.qbo import errors
from qb_sync.qbo.gateway import CallLease, QboGateway

Json = dict[str, Any]


class CustomerCalls:
    def __init__(
        self, gateway: QboGateway, tenant_id: str, realm_id: str, lease: CallLease | None
    ) -> None:
        self.gateway = gateway
        self.tenant_id = tenant_id
        self.realm_id = realm_id
        self.lease = lease

    async def _call(self, op: str, fn: Callable[[QuickBooks], Any]) -> Any:
        return await self.gateway.call(self.tenant_id, self.realm_id, op, fn, lease=self.lease)

    async def find(self, entity: str, wanted_names: list[str], *, exact: bool = True) -> list[Json]:
        """Records of `entity` named like any of `wanted_names` (exactly, unless `exact=False`:
        then as loosely as QuickBooks compares)."""
        found: dict[str, Json] = {}
        for query in names.name_queries(wanted_names):
            start = 1
            while True:
                sql = query.page(entity, start)
                reply = await self._call(f"push.find.{entity.lower()}", _query(sql))
                page: list[Json] = (reply.get("QueryResponse") or {}).get(entity) or []
                for record in page:
                    name = str(record.get("DisplayName") or "")
                    if not exact or any(names.same_name(name, n) for n in wanted_names):
                        found[str(record["Id"])] = record
                if len(page) < names.PAGE:
                    break
                start += len(page)
        return list(found.values())

    async def get(self, qb_id: str, op: str = "push.get") -> Json | None:
        """The customer as QuickBooks holds it now; None when it does not exist (610)."""
        try:
            reply = await self._call(op, lambda qb: qb.get_single_object("Customer", qb_id))
        except errors.QboFault as exc:
            if exc.code == errors.NOT_FOUND:
                return None
            raise
        customer: Json = reply["Customer"]
        return customer

    async def create(self, payload: str, request_id: str) -> Json:
        return await self._save("push.create", "create_object", payload, request_id)

    async def update(self, payload: str, request_id: str) -> Json:
        return await self._save("push.update", "update_object", payload, request_id)

    async def _save(self, op: str, method: str, payload: str, request_id: str) -> Json:
        """`create_object` / `update_object` of the Customer body `payload`: the saved customer."""
        reply = await self._call(
            op, lambda qb: getattr(qb, method)("Customer", payload, request_id=request_id)
        )
        customer: Json = reply["Customer"]
        return customer


def _query(sql: str) -> Callable[[QuickBooks], Any]:
    """A call running `sql` (a function per page, so each call holds its own query)."""
    return lambda qb: qb.query(sql)
