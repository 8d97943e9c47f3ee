"""Display names on create (and rename): finding a customer this row may link instead of
creating one, and saying why a name is taken when it may not. A name is never altered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qb_sync.domain import names
from qb_sync.domain.outcomes import Outcome, linked
from qb_sync.store.push.rows import get_mapping, owner_of
from qb_sync.usecases.row_push import RowPush

Json = dict[str, Any]


@dataclass(frozen=True)
class NamesSent:
    """What a row's creates went out with: every name (`sent`), the frozen body's name, and the
    parents it may sit under (the frozen body's and today's)."""

    sent: list[str]
    frozen: str
    parents: set[str | None]


async def match_existing(
    push: RowPush, names_sent: NamesSent, wanted: Json, wanted_qb: Json
) -> Outcome | None:
    """Link an exact DisplayName match (active or not, under the same parent) for any name a
    create of this row went out with, that no other customer is mapped to: this is also how a
    create whose answer was lost is recovered once QuickBooks no longer remembers its requestid.
    A match of the frozen name that may not be linked is `needs_link`, saying why."""
    row, frozen_name = push.row, names_sent.frozen
    elsewhere: tuple[Json, str] | None = None
    other_parent: Json | None = None
    for customer in await push.qbo.find("Customer", names_sent.sent):
        qb_id = str(customer["Id"])
        exact_frozen = names.same_name(str(customer.get("DisplayName") or ""), frozen_name)
        owner = await owner_of(push.pool, row.tenant_id, row.realm_id, qb_id)
        if owner is not None and owner != row.customer_id:
            if exact_frozen:
                elsewhere = (customer, owner)
            continue  # someone else's: never ours, whatever the name
        if (customer.get("ParentRef") or {}).get("value") not in names_sent.parents:
            if exact_frozen:
                other_parent = customer
            continue  # same name, another place in the customer tree
        return linked(customer, "matched_by_name", wanted, wanted_qb)
    if elsewhere is not None:
        customer, owner = elsewhere
        return Outcome(
            "needs_link",
            code="name_linked_elsewhere",
            message=(
                f"display name {frozen_name!r} belongs to QuickBooks customer "
                f"{customer['Id']}, already linked to customer {owner}"
            ),
            candidate=str(customer["Id"]),
        )
    if other_parent is not None:
        where = (other_parent.get("ParentRef") or {}).get("value")
        return Outcome(
            "needs_link",
            code="name_under_other_parent",
            message=(
                f"display name {frozen_name!r} belongs to QuickBooks customer "
                f"{other_parent['Id']}, "
                + (f"a sub-customer of {where}" if where else "a top-level customer")
                + ", not where this customer belongs"
            ),
            candidate=str(other_parent["Id"]),
        )
    return None


async def name_held(push: RowPush, name: str, holder: str) -> Outcome:
    """Another platform customer's create claimed this name in the company first."""
    row = push.row
    other = await get_mapping(push.pool, row.tenant_id, row.realm_id, holder)
    message = f"customer {holder} is creating the QuickBooks customer {name!r}"
    if other is not None and other.qb_customer_id is None and other.status != "pending":
        return Outcome(
            "needs_link",
            code="name_claimed",
            message=f"{message} ({other.status}); resolve that one first",
        )
    return Outcome("wait", code="name_claimed", message=message, delay=1.0)


async def name_taken(
    push: RowPush, names_sent: NamesSent, wanted: Json, wanted_qb: Json
) -> Outcome:
    """6240 on create: a customer we may link (ours, created by an earlier attempt that
    QuickBooks' requestid memory no longer covers), else why the name is taken."""
    matched = await match_existing(push, names_sent, wanted, wanted_qb)
    if matched is not None:
        return matched
    return await taken_because(push, names_sent.frozen, exclude=None)


async def taken_because(push: RowPush, name: str, exclude: str | None) -> Outcome:
    """`needs_link` naming what holds `name`: a customer (the candidate), else a vendor or an
    employee (QuickBooks names are unique across the three)."""
    for customer in await push.qbo.find("Customer", [name], exact=False):
        if str(customer["Id"]) == exclude:
            continue
        return Outcome(
            "needs_link",
            code="6240",
            message=(
                f"display name {name!r} is taken by QuickBooks customer "
                f"{customer['Id']} ({customer.get('DisplayName')!r})"
            ),
            candidate=str(customer["Id"]),
        )
    for entity in ("Vendor", "Employee"):
        for other in await push.qbo.find(entity, [name], exact=False):
            return Outcome(
                "needs_link",
                code="6240",
                message=(
                    f"display name {name!r} is used by QuickBooks {entity.lower()} "
                    f"{other['Id']} ({other.get('DisplayName')!r}); a customer cannot "
                    "share it"
                ),
            )
    return Outcome(
        "needs_link",
        code="6240",
        message=f"QuickBooks reports the display name {name!r} as taken",
    )
