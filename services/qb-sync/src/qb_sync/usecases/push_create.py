"""Creating the QuickBooks customer of a row with no QuickBooks id yet, idempotent in layers:
1. the requestid was stored with the row when the push was requested (intent.request_push);
2. before the first call the create is frozen: its exact body is stored with the row and its
   name claimed in the company (name_claims.freeze_create). Every retry resends those bytes
   under that requestid, whatever was renamed meanwhile, so QuickBooks can only ever replay it;
   a later rename is a sparse update once linked. Only a fault answer (nothing was created)
   unfreezes it, and the next create gets a new requestid;
3. find first (push_names.match_existing): a customer this row may link is linked instead;
4. the name claim: no other row creates or links that name while this one may have created it.
On 6240 the row becomes `needs_link` with the reason (push_names.name_taken).
"""

from __future__ import annotations

import json
from typing import Any

from qb_sync.domain import fields
from qb_sync.domain.outcomes import Outcome, linked
from qb_sync.qbo import errors
from qb_sync.store.push.name_claims import freeze_create
from qb_sync.usecases.push_names import NamesSent, match_existing, name_held, name_taken
from qb_sync.usecases.row_push import RowPush

Json = dict[str, Any]


async def create(push: RowPush, snapshot: Json, wanted: Json, wanted_qb: Json) -> Outcome:
    frozen = await freeze(push, snapshot, wanted, wanted_qb)
    if isinstance(frozen, Outcome):
        return frozen
    payload, names_sent = frozen
    matched = await match_existing(push, names_sent, wanted, wanted_qb)
    if matched is not None:
        matched.unfreeze = matched.kind != "linked"
        return matched
    try:
        customer = await push.qbo.create(payload, push.row.create_request_id)
    except errors.QboFault as exc:
        return await refused(push, names_sent, wanted, wanted_qb, exc)
    return linked(customer, "created", wanted, wanted_qb)


async def freeze(
    push: RowPush, snapshot: Json, wanted: Json, wanted_qb: Json
) -> tuple[str, NamesSent] | Outcome:
    """The row's frozen create body (frozen now if it is not yet) and the names it went out
    with; an outcome instead when it cannot be sent (no name, the name claimed by another)."""
    row = push.row
    if row.create_payload is None:
        name = str(wanted["DisplayName"])
        if not name:
            return Outcome("failed", code="no_display_name", message="the customer has no name")
        body = fields.create_body(
            wanted, (wanted_qb.get("ParentRef") or {}).get("value"), snapshot.get("currency")
        )
        payload = json.dumps(body, sort_keys=True)
        holder = await freeze_create(push.pool, row, push.lease.token, name, payload)
        if holder is not None:
            return await name_held(push, name, holder)
        sent_names = list(dict.fromkeys([*row.create_names, name]))
    else:
        payload = row.create_payload
        body = json.loads(payload)
        sent_names = list(row.create_names) or [str(body["DisplayName"])]
    names_sent = NamesSent(
        sent=sent_names,
        frozen=str(body["DisplayName"]),
        parents={
            (body.get("ParentRef") or {}).get("value"),
            (wanted_qb.get("ParentRef") or {}).get("value"),
        },
    )
    return payload, names_sent


async def refused(
    push: RowPush, names_sent: NamesSent, wanted: Json, wanted_qb: Json, exc: errors.QboFault
) -> Outcome:
    """QuickBooks answered the create with a fault: nothing was created."""
    if exc.code == errors.DUPLICATE_NAME:
        outcome = await name_taken(push, names_sent, wanted, wanted_qb)
    else:
        outcome = Outcome("failed", code=str(exc.code), message=f"{exc.message} {exc.detail}"[:500])
    outcome.unfreeze = outcome.kind != "linked"
    return outcome
