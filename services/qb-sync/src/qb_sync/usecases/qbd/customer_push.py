"""Pushing one platform customer to a Desktop company, one message set per Web Connector round
trip, with the same push rows, outcomes and events as QuickBooks Online (write_outcome.py).

Desktop has no requestid replay, so a duplicate is avoided by looking before writing
(docs/reference/quickbooks-desktop.md#design-consequences-for-qb-sync-our-reading):
- create: `find` (CustomerQueryRq by FullName, every name an Add of this row ever went out with,
  active or not) -> a customer carrying our ExternalGUID is ours (a lost Add that landed), an
  unlinked customer of exactly this FullName is linked, one linked to another customer is
  `needs_link`; nothing found -> `add`. 3100 on the Add means the name is taken (maybe by a
  vendor, employee or other name): find again, then link or `needs_link`; never a second Add.
- update: `read` (by ListID, for the current EditSequence and values) -> `mod` of the fields the
  platform changed that QuickBooks does not hold; 3200 (stale EditSequence) reads and decides
  again, at most MAX_REREADS times.
- a write sent without an answer (the session died, a second authenticate, a restart) is
  uncertain: the job's next step is the find (or read) again, never the write.
- 3170/3175/3176/3180 (locked, modified by another user) and a QuickBooks that threw are a
  counted retry with backoff; any other error ends the row `failed`. A job always ends.
"""

from __future__ import annotations

import logging
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import asyncpg

from qb_sync.domain import fields
from qb_sync.domain.outcomes import PARENT_NOT_SYNCED, WAITING_FOR_CUSTOMER, Outcome, linked
from qb_sync.domain.qbd import push_xml
from qb_sync.domain.qbd.answer_values import status_code
from qb_sync.domain.qbd.latin1 import NotLatin1
from qb_sync.domain.qbd.qbxml import imported_customer
from qb_sync.domain.qbd.records import Job, Session, desktop_realm
from qb_sync.settings import Settings
from qb_sync.store.push import desktop
from qb_sync.store.push.intent import ensure_parent_pending
from qb_sync.store.push.leases import renew_lease
from qb_sync.store.push.rows import Mapping, get_mapping, owner_of
from qb_sync.store.push.snapshots import load_snapshot
from qb_sync.store.qbd import customers, push_jobs
from qb_sync.store.qbd.requests import save_state, settle
from qb_sync.usecases.write_outcome import OutcomeWriter

Json = dict[str, Any]
log = logging.getLogger("qb_sync.qbd")
LEASE_SECONDS = 900.0  # a session's idle limit: renewed on every step
MAX_REREADS = 3
TRANSIENT = {3170, 3175, 3176, 3180}
FOUND = {0, 1, 500}  # a lookup: all found, nothing found, some not found


@dataclass
class Step:
    """What a job does next: send `request` (a message set), or it ended (`request` None)."""

    request: str | None


class DesktopPush:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.outcomes = OutcomeWriter(pool, settings)

    async def next_job(self, conn: asyncpg.Connection, session: Session) -> Job | None:
        """Lease the company's next due push row and open its job."""
        key = session.ticket_hash.hex()
        leased = await desktop.lease_desktop_row(
            conn,
            session.tenant_id,
            desktop_realm(session.connection_id),
            session.connection_id,
            LEASE_SECONDS,
            key,
        )
        if leased is None:
            return None
        customer_id, token = leased
        return await push_jobs.open_push_job(conn, session.connection_id, customer_id, token, key)

    async def request(
        self, conn: asyncpg.Connection, job: Job, session: Session
    ) -> ET.Element | None:
        """The request of the job's next step (the caller puts it in a message set, maybe with
        other jobs' requests); None when the job ended without one (its outcome written, or
        its row taken over)."""
        pushing = await _Pushing.load(conn, job, session, self.outcomes)
        if pushing is None:
            return None
        return await pushing.request()

    async def apply(
        self, conn: asyncpg.Connection, job: Job, session: Session, rs: ET.Element
    ) -> bool:
        """Take the answer of the job's step; True when the job ended."""
        pushing = await _Pushing.load(conn, job, session, self.outcomes)
        if pushing is None:
            return True
        return await pushing.apply(rs)

    async def failed(
        self, conn: asyncpg.Connection, job: Job, session: Session, reason: str
    ) -> None:
        """QuickBooks threw instead of answering (or the answer was unreadable): nothing is
        known about a write, so the row retries later from its find; the job ends."""
        pushing = await _Pushing.load(conn, job, session, self.outcomes)
        if pushing is not None:
            await pushing.end(Outcome("retry", code="quickbooks_error", message=reason[:500]))


class _Pushing:
    """One job on its leased row, inside the Web Connector call's transaction."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        job: Job,
        session: Session,
        row: Mapping,
        token: uuid.UUID,
        outcomes: OutcomeWriter,
    ) -> None:
        self.conn, self.job, self.session, self.row = conn, job, session, row
        self.token, self.outcomes = token, outcomes
        self.state: Json = dict(job.state)

    @staticmethod
    async def load(
        conn: asyncpg.Connection, job: Job, session: Session, outcomes: OutcomeWriter
    ) -> _Pushing | None:
        token = uuid.UUID(job.state["token"])
        realm = desktop_realm(session.connection_id)
        row = await get_mapping(conn, session.tenant_id, realm, job.state["customer_id"])
        if row is None or row.lease_token != token:
            # Unlinked, or a person's choice took the row over: its new holder decides.
            await settle(conn, job, "done", last_status="the push row was taken over")
            return None
        await renew_lease(conn, row, token, LEASE_SECONDS)
        return _Pushing(conn, job, session, row, token, outcomes)

    # ----- what the platform wants -----
    async def _wanted(self) -> tuple[Json, Json, str | None] | Outcome:
        """(platform values, QuickBooks values as Desktop keeps them, FullName), or why the
        row must wait or stop."""
        snapshot = await load_snapshot(self.conn, self.row.tenant_id, self.row.customer_id)
        if snapshot is None:
            return Outcome(
                "wait", code=WAITING_FOR_CUSTOMER, message="waiting for the customer's data",
                delay=2.0,
            )  # fmt: skip
        parent_list_id: str | None = None
        parent_id = snapshot.get("parent_id")
        if parent_id:
            parent = await get_mapping(
                self.conn, self.row.tenant_id, self.row.realm_id, str(parent_id)
            )
            if parent is None:
                await ensure_parent_pending(
                    self.conn, self.row.tenant_id, self.row.realm_id, str(parent_id),
                    self.row.create_request_id,
                )  # fmt: skip
            if parent is None or parent.qb_customer_id is None:
                # A pending parent goes first; one that needs a person counts this row's
                # attempts, so it ends failed rather than waiting forever (as push_row.py).
                status = parent.status if parent else "pending"
                message = f"waiting for parent {parent_id} ({status})"
                if status == "pending":
                    return Outcome("wait", message=message, delay=1.0)
                return Outcome("retry", code=PARENT_NOT_SYNCED, message=message)
            parent_list_id = parent.qb_customer_id
        wanted = fields.desired(snapshot)
        try:
            wanted_qb = push_xml.desktop_values(fields.quickbooks_values(wanted, parent_list_id))
        except NotLatin1 as exc:
            return Outcome("failed", code="not_latin1", message=f"cannot export: {exc}")
        if not wanted_qb["DisplayName"]:
            return Outcome("failed", code="no_display_name", message="the customer has no name")
        full_name = wanted_qb["DisplayName"]
        if parent_list_id is not None:
            parent_full = self.state.get("parent_full_name") or await push_jobs.known_full_name(
                self.conn, self.session.connection_id, parent_list_id
            )
            if parent_full is None:
                return wanted, wanted_qb, None  # read the parent first
            full_name = f"{parent_full}:{full_name}"
        return wanted, wanted_qb, full_name

    # ----- requests -----
    async def request(self) -> ET.Element | None:
        written = self.state.pop("written", None)
        if written is not None:
            # Sent, never answered: it may have been applied. Look before writing again.
            log.warning(
                "qbd push of customer %s: the %s went unanswered; resolving it by a query",
                self.row.customer_id, written,
            )  # fmt: skip
            self.state["step"] = "find" if written == "add" else "read"
        wanted = await self._wanted()
        if isinstance(wanted, Outcome):
            await self.end(wanted)
            return None
        _, wanted_qb, full_name = wanted
        rid = f"qbd-{self.job.request_id}"
        step = self.state.get("step") or ("read" if self.row.qb_customer_id else "find")
        if full_name is None:
            step = "parent"
            request = push_xml.read_request(rid, str(wanted_qb["ParentRef"]["value"]))
        elif step == "find":
            names = list(dict.fromkeys([*self.row.create_names, full_name]))
            request = push_xml.find_request(rid, names)
        elif step == "add":
            await desktop.note_create_name(self.conn, self.row, self.token, full_name)
            guid = push_xml.external_guid(self.row.tenant_id, self.row.customer_id)
            add = {k: v for k, v in wanted_qb.items() if k != "Job"}
            body = push_xml.customer_body("CustomerAdd", add, guid=guid)
            request = push_xml.write_request("CustomerAdd", rid, body)
            self.state["written"] = "add"
        elif step == "read":
            request = push_xml.read_request(rid, str(self.row.qb_customer_id))
        else:  # mod
            body = push_xml.customer_body(
                "CustomerMod", self.state["send"], list_id=str(self.row.qb_customer_id),
                edit_sequence=self.state["edit_sequence"],
            )  # fmt: skip
            request = push_xml.write_request("CustomerMod", rid, body)
            self.state["written"] = "mod"
        self.state["step"] = step
        await save_state(self.conn, self.job.request_id, self.state)
        return request

    # ----- answers -----
    async def apply(self, rs: ET.Element) -> bool:
        self.state.pop("written", None)  # answered: whatever it did is known now
        code = status_code(rs)
        message = f"{code}: {rs.get('statusMessage', '')}"[:500]
        rets = rs.findall("CustomerRet")
        seen = [imported_customer(ret) for ret in rets]  # all checked before any is kept
        for ret_seen in seen:  # what we saw of the company file serves later lookups
            await customers.upsert(self.conn, self.job.request_id, ret_seen)
        step = self.state.get("step")
        if code in TRANSIENT:
            return await self.end(Outcome("retry", code=str(code), message=message))
        if step == "parent":
            if code != 0 or not rets:
                return await self.end(Outcome("retry", code=str(code), message=message))
            self.state["parent_full_name"] = rets[0].findtext("FullName", "")
            self.state["step"] = "find"
            return await self._continue()
        if step == "find" and code in FOUND:
            return await self._found(rets)
        if step == "add" and code == 0 and rets:
            return await self._linked(rets[0], "created")
        if step == "add" and code == 3100:
            self.state.update(step="find", name_in_use=message)
            return await self._continue()
        if step == "read" and code == 0 and rets:
            return await self._read(rets[0])
        if step == "read" and code in FOUND:
            return await self.end(Outcome(
                "failed", code="not_in_quickbooks",
                message=f"QuickBooks customer {self.row.qb_customer_id} is no longer in the "
                "company file (deleted there); link another one",
            ))  # fmt: skip
        if step == "mod" and code == 0 and rets:
            customer = push_xml.customer_of(rets[0])
            platform = await self._platform()
            return await self.end(Outcome(
                "updated", customer=customer, qb_content=fields.current(customer),
                platform=platform,
            ))  # fmt: skip
        if step == "mod" and code == 3200:
            rereads = int(self.state.get("rereads", 0)) + 1
            if rereads > MAX_REREADS:
                return await self.end(Outcome("retry", code="3200", message=message))
            self.state.update(step="read", rereads=rereads)
            return await self._continue()
        return await self.end(Outcome("failed", code=str(code), message=message))

    async def _platform(self) -> Json:
        wanted = await self._wanted()
        return wanted[0] if not isinstance(wanted, Outcome) else {}

    async def _found(self, rets: list[ET.Element]) -> bool:
        wanted = await self._wanted()
        if isinstance(wanted, Outcome):
            return await self.end(wanted)
        _, _, full_name = wanted
        guid = push_xml.external_guid(self.row.tenant_id, self.row.customer_id)
        for ret in rets:
            if ret.findtext("ExternalGUID") == guid:
                return await self._linked(ret, "created")  # our Add landed, its answer was lost
        for ret in rets:
            if ret.findtext("FullName") != full_name:
                continue  # an older name of ours now held by someone else, or a case variant
            list_id = ret.findtext("ListID", "")
            owner = await owner_of(self.conn, self.row.tenant_id, self.row.realm_id, list_id)
            if owner is not None and owner != self.row.customer_id:
                return await self.end(Outcome(
                    "needs_link", code="name_linked_elsewhere", candidate=list_id,
                    message=f"{full_name!r} is QuickBooks customer {list_id}, already linked "
                    f"to customer {owner}",
                ))  # fmt: skip
            return await self._linked(ret, "matched_by_name")
        if "name_in_use" in self.state:
            others = [r.findtext("ListID", "") for r in rets]
            return await self.end(Outcome(
                "needs_link", code="3100", candidate=others[0] if others else None,
                message=f"{full_name!r} is in use in QuickBooks by another customer, vendor, "
                f"employee or other name ({self.state['name_in_use']})",
            ))  # fmt: skip
        self.state["step"] = "add"
        return await self._continue()

    async def _linked(self, ret: ET.Element, how: str) -> bool:
        wanted = await self._wanted()
        if isinstance(wanted, Outcome):
            return await self.end(wanted)
        platform, wanted_qb, _ = wanted
        return await self.end(linked(push_xml.customer_of(ret), how, platform, wanted_qb))

    async def _read(self, ret: ET.Element) -> bool:
        wanted = await self._wanted()
        if isinstance(wanted, Outcome):
            return await self.end(wanted)
        platform, wanted_qb, _ = wanted
        customer = push_xml.customer_of(ret)
        held = fields.current(customer)
        if self.row.platform_content is None:  # linked before the platform's data arrived
            return await self.end(Outcome("unchanged", customer=customer, platform=platform))
        send = fields.to_send(self.row.platform_content, platform, held, wanted_qb)
        # Moving a job between parents is left to QuickBooks' screen (an empty ParentRef there
        # means nothing); Job follows ParentRef.
        send = {k: v for k, v in send.items() if k != "Job"}
        if not (send.get("ParentRef") or {}).get("value"):
            send.pop("ParentRef", None)
        if not send:
            return await self.end(
                Outcome("unchanged", customer=customer, qb_content=held, platform=platform)
            )
        self.state.update(step="mod", send=send, edit_sequence=ret.findtext("EditSequence", ""))
        return await self._continue()

    async def _continue(self) -> bool:
        await settle(self.conn, self.job, "queued", self.state)
        return False

    async def end(self, outcome: Outcome) -> bool:
        """Write the row's outcome under the job's lease and end the job."""
        written = await self.outcomes.write_in(self.conn, self.row, self.token, outcome)
        status = "done" if outcome.kind not in ("failed",) else "failed"
        note = f"{outcome.kind}: {outcome.code or ''} {outcome.message or ''}".strip()
        await settle(self.conn, self.job, status, self.state, note if written else "lease lost")
        log.info(
            "qbd push outcome",
            extra={"fields": {"customer_id": self.row.customer_id, "outcome": outcome.kind,
                              "error_code": outcome.code, "realm_id": self.row.realm_id}},
        )  # fmt: skip
        return True
