"""What one push attempt came to (`Outcome`), and the outcomes decided from data alone.

`kind`: linked | updated | unchanged (the row is in step) | needs_link | conflict (a person
decides) | wait (try again soon, attempts not counted) | retry (counted; `failed` once used up)
| failed | lost (the lease was taken over: nothing is written).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qb_sync.domain import fields

Json = dict[str, Any]

# last_error_code of a row whose parent needs a person (failed, needs_link): woken when linked.
PARENT_NOT_SYNCED = "parent_not_synced"
# A row whose customer qb-sync has not seen yet: woken by the snapshot, polled at most this often.
WAITING_FOR_CUSTOMER = "customer_data"
MAX_CUSTOMER_WAIT_SECONDS = 60.0


@dataclass
class Outcome:
    kind: str
    customer: Json | None = None  # the QuickBooks customer as last returned
    how: str | None = None  # linked: created | matched_by_name | linked_by_user
    qb_content: Json | None = None  # new pushed_content: what QuickBooks holds now
    platform: Json | None = None  # new platform_content
    more: bool = False  # platform values QuickBooks does not hold yet: stay pending
    code: str | None = None
    message: str | None = None
    candidate: str | None = None
    conflict: Json | None = None
    delay: float = 0.0
    unfreeze: bool = False  # QuickBooks answered the create: it may be rebuilt (new requestid)
    merged_away: str | None = None  # 610: this QuickBooks id is gone

    @property
    def sync_token(self) -> int | None:
        """The SyncToken of the customer QuickBooks returned, if it returned one."""
        return int(self.customer.get("SyncToken") or 0) if self.customer else None


def linked(customer: Json, how: str, wanted: Json, wanted_qb: Json) -> Outcome:
    """The row is now linked to `customer`. Fields QuickBooks does not hold as the platform
    wants them (a rename since the create was frozen, an inactive customer created active, a
    matched customer's other values) stay to send: the row stays pending for a sparse update."""
    held = fields.current(customer)
    pending = fields.to_send({}, wanted, held, wanted_qb)
    return Outcome(
        "linked",
        customer=customer,
        how=how,
        qb_content=held,
        platform={} if pending else wanted,
        more=bool(pending),
    )


def linked_meanwhile(outcome: Outcome) -> Outcome:
    """`outcome` would link a QuickBooks customer another row linked between our check and our
    write (the unique index said so)."""
    assert outcome.customer is not None
    qb_id = str(outcome.customer["Id"])
    return linked_elsewhere(
        qb_id, f"QuickBooks customer {qb_id} was linked to another customer meanwhile"
    )


def linked_elsewhere(qb_customer_id: str, message: str) -> Outcome:
    """The QuickBooks customer this row would link belongs to another platform customer."""
    return Outcome(
        "needs_link",
        code="name_linked_elsewhere",
        message=message,
        candidate=qb_customer_id,
        unfreeze=True,
    )
