"""Reading customers from QuickBooks through the gateway, as raw JSON (what `publish_mirror` takes).

The raw client methods (`qb.query`, `qb.change_data_capture`) return QuickBooks' JSON untouched,
so no `Customer()` object with its ~25 defaults ever stands between QuickBooks and the mirror.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from qb_sync.qbo.gateway import QboGateway

Json = dict[str, Any]


def page_query(after_id: int, page_size: int, changed_since: datetime | None = None) -> str:
    """Keyset paging: `Id > last` ORDERBY Id, active and inactive alike (a default query hides
    inactive customers, docs/reference/quickbooks-online.md#inactive-customers). Keyset, not
    STARTPOSITION, so a customer merged away in the middle of an import cannot shift the pages
    and make us skip one."""
    where = [f"Id > '{after_id}'", "Active IN (true, false)"]
    if changed_since is not None:
        where.append(f"MetaData.LastUpdatedTime >= '{_qbo_time(changed_since)}'")
    return f"SELECT * FROM Customer WHERE {' AND '.join(where)} ORDERBY Id MAXRESULTS {page_size}"


def _qbo_time(moment: datetime) -> str:
    """ISO 8601 with an explicit offset: without one QuickBooks reads company time
    (docs/reference/quickbooks-online.md#timestamps)."""
    return moment.isoformat(timespec="seconds")


async def read_page(
    gateway: QboGateway,
    tenant_id: str,
    realm_id: str,
    after_id: int,
    page_size: int,
    changed_since: datetime | None = None,
) -> list[Json]:
    sql = page_query(after_id, page_size, changed_since)
    reply: Json = await gateway.call(tenant_id, realm_id, "pull.query", lambda qb: qb.query(sql))
    customers: Sequence[Json] = (reply.get("QueryResponse") or {}).get("Customer") or []
    return list(customers)


async def read_changes(
    gateway: QboGateway, tenant_id: str, realm_id: str, since: datetime
) -> list[Json]:
    """One CDC call for Customer. With no change QuickBooks leaves the entity out altogether
    (the library's `getattr(cdc, "Customer", [])` trap), so every level is read defensively."""
    stamp = _qbo_time(since)
    reply: Json = await gateway.call(
        tenant_id, realm_id, "pull.cdc", lambda qb: qb.change_data_capture("Customer", stamp)
    )
    found: list[Json] = []
    for block in reply.get("CDCResponse") or []:
        for response in block.get("QueryResponse") or []:
            found.extend(response.get("Customer") or [])
    return found


async def read_customer(gateway: QboGateway, tenant_id: str, realm_id: str, qb_id: str) -> Json:
    reply: Json = await gateway.call(
        tenant_id,
        realm_id,
        "pull.get",
        lambda qb: qb.get_single_object("Customer", qb_id),
    )
    return reply.get("Customer") or {}
