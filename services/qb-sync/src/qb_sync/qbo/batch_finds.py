"""Finding many customers by name at once, and answering the per-row finds from that.

One query `DisplayName IN ('a', 'b', ...)` covers up to `names_per_query` names and about
`max_chars` characters of names (QuickBooks documents no query length limit; a bounded query
keeps a 4000 "query too long", should one come, from failing a whole batch of rows). Each name is
still compared exactly afterwards (push_names.match_existing), as for one row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from qb_sync.domain import names
from qb_sync.qbo.customer_calls import CustomerCalls

Json = dict[str, Any]


def name_chunks(wanted: Iterable[str], per_query: int, max_chars: int) -> list[list[str]]:
    """`wanted` (deduplicated, in order) cut into lists small enough for one IN query each."""
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0
    for name in dict.fromkeys(n for n in wanted if n):
        cost = len(names.quote_literal(name)) + 2
        if current and (len(current) >= per_query or size + cost > max_chars):
            chunks.append(current)
            current, size = [], 0
        current.append(name)
        size += cost
    if current:
        chunks.append(current)
    return chunks


async def find_customers(
    calls: CustomerCalls, wanted: Iterable[str], per_query: int, max_chars: int
) -> list[Json]:
    """Every customer (active or not) whose DisplayName equals one of `wanted`."""
    found: dict[str, Json] = {}
    for chunk in name_chunks(wanted, per_query, max_chars):
        for customer in await calls.find("Customer", chunk):
            found[str(customer["Id"])] = customer
    return list(found.values())


class FoundCustomers(CustomerCalls):
    """A row's calls whose exact finds of customers among `known` names are answered from a bulk
    find made a moment ago; anything else goes to QuickBooks as usual."""

    def __init__(self, calls: CustomerCalls, known: Iterable[str], found: list[Json]) -> None:
        super().__init__(calls.gateway, calls.tenant_id, calls.realm_id, calls.lease)
        self.known = set(known)
        self.found = found

    async def find(self, entity: str, wanted_names: list[str], *, exact: bool = True) -> list[Json]:
        if entity != "Customer" or not exact or not set(wanted_names) <= self.known:
            return await super().find(entity, wanted_names, exact=exact)
        return [
            c
            for c in self.found
            if any(names.same_name(str(c.get("DisplayName") or ""), n) for n in wanted_names)
        ]
