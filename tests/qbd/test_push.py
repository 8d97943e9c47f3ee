"""Pushing platform customers to a QuickBooks Desktop company through Web Connector sessions:
qb-sync's SOAP endpoint on a real port over real PostgreSQL, driven by the simulated Web
Connector (zeep, from the WSDL) against the simulated company file, under every fault the issue
names. After each fault: no duplicate in the company file and every pushed customer linked to
exactly one QuickBooks customer (the one carrying its ExternalGUID)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from qb_sync.domain.qbd.push_xml import external_guid
from qb_sync.domain.qbd.records import QbdConnection, desktop_realm
from qb_sync.store.push.intent import customer_changed, request_push
from qb_sync.store.push.snapshots import save_snapshot
from qb_sync.usecases.qbd import web_connector
from qbd_simulator.company import CompanyFile
from qbd_simulator.connector import Faults, Session
from tests.qbd.conftest import Endpoint
from tests.qbd.test_qbsync_endpoint import connect, connector, run
from tests.qbsync.conftest import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The endpoint reads qb-sync's settings per call: retries come due at once here."""
    monkeypatch.setenv("PUSH_BACKOFF_BASE_SECONDS", "0.01")
    monkeypatch.setenv("PUSH_BACKOFF_MAX_SECONDS", "0.01")
    yield


class Desktop:
    """One tenant's Desktop company: its platform customers, push rows and Web Connector."""

    def __init__(
        self, endpoint: Endpoint, db: asyncpg.Pool, connection: QbdConnection, company: CompanyFile
    ) -> None:
        self.endpoint, self.db, self.connection, self.company = endpoint, db, connection, company
        self.tenant = connection.tenant_id
        self.realm = desktop_realm(connection.connection_id)
        self.versions: dict[str, int] = {}

    async def customer(self, name: str, push: bool = True, **values: Any) -> str:
        customer_id = str(uuid.uuid4())
        await self.change(customer_id, display_name=name, **values)
        if push:
            async with self.db.acquire() as conn:
                await request_push(conn, self.tenant, self.realm, customer_id, "form")
        return customer_id

    async def change(self, customer_id: str, **values: Any) -> None:
        """A new version of the platform customer, as customer.events brings it."""
        self.versions[customer_id] = self.versions.get(customer_id, 0) + 1
        previous = await self.snapshot(customer_id)
        snapshot = {
            **previous,
            "customer_id": customer_id,
            "version": self.versions[customer_id],
            "active": True,
            **values,
        }
        async with self.db.acquire() as conn, conn.transaction():
            await save_snapshot(conn, self.tenant, snapshot)
            await customer_changed(conn, self.tenant, snapshot)

    async def snapshot(self, customer_id: str) -> dict[str, Any]:
        raw = await self.db.fetchval(
            "SELECT snapshot FROM push_customers WHERE tenant_id = $1 AND customer_id = $2",
            self.tenant,
            customer_id,
        )
        return json.loads(raw) if raw else {}

    async def session(self, **kw: Any) -> Session:
        return await run(connector(self.endpoint, self.connection, self.company, **kw))

    async def sync_until_idle(self, sessions: int = 8) -> list[Session]:
        """Web Connector runs until qb-sync has nothing more for this company."""
        done = []
        for _ in range(sessions):
            session = await self.session()
            done.append(session)
            if session.outcome == "none" and not await self.waiting():
                return done
            await asyncio.sleep(0.3)  # the next scheduled run; retry backoffs come due
        rows = await self.db.fetch(
            "SELECT customer_id, due_at - now() AS due_in, lease_until - now() AS leased_for, "
            "last_error_code, last_error_message FROM push_mappings "
            "WHERE realm_id = $1 AND status = 'pending'",
            self.realm,
        )
        jobs = await self.db.fetch(
            "SELECT request_id, customer_id, status, state, last_status FROM qbd_requests "
            "WHERE connection_id = $1",
            self.connection.connection_id,
        )
        raise AssertionError(
            f"still work after {sessions} sessions: {[s.outcome for s in done]}: "
            f"{[dict(r) for r in rows]} {[dict(j) for j in jobs]}"
        )

    async def waiting(self) -> bool:
        """Rows pending but not due yet (a retry's backoff, a job waiting for its parent)."""
        return bool(
            await self.db.fetchval(
                "SELECT count(*) FROM push_mappings WHERE realm_id = $1 AND status = 'pending'",
                self.realm,
            )
        )

    async def row(self, customer_id: str) -> asyncpg.Record:
        row = await self.db.fetchrow(
            "SELECT * FROM push_mappings WHERE tenant_id = $1 AND realm_id = $2 "
            "AND customer_id = $3",
            self.tenant,
            self.realm,
            customer_id,
        )
        assert row is not None
        return row

    def ours(self, customer_id: str) -> list[str]:
        """ListIDs of company customers carrying this platform customer's ExternalGUID."""
        guid = external_guid(self.tenant, customer_id)
        return [
            c.list_id for c in self.company.customers.values() if c.text("ExternalGUID") == guid
        ]

    async def assert_linked_once(self, *customer_ids: str) -> None:
        """Zero duplicates, each customer linked to exactly its one QuickBooks customer."""
        names = self.company.full_names()
        assert len(names) == len({n.casefold() for n in names}), names
        for customer_id in customer_ids:
            row = await self.row(customer_id)
            jobs = await self.db.fetch(
                "SELECT * FROM qbd_requests WHERE customer_id = $1", customer_id
            )
            assert row["status"] == "synced", (
                row["last_error_code"],
                row["last_error_message"],
                [dict(j) for j in jobs],
            )
            assert self.ours(customer_id) == [row["qb_customer_id"]]
        linked = await self.db.fetchval(
            "SELECT count(DISTINCT qb_customer_id) FROM push_mappings WHERE realm_id = $1 "
            "AND qb_customer_id IS NOT NULL",
            self.realm,
        )
        assert linked == len(customer_ids)

    async def events(self, customer_id: str) -> list[dict[str, Any]]:
        """The events qb-sync wrote (through its outbox) about this customer."""
        rows = await self.db.fetch(
            "SELECT topic, headers, payload FROM outbox WHERE key = $1 ORDER BY id", customer_id
        )
        return [
            {"topic": r["topic"], "headers": json.loads(r["headers"]),
             "data": json.loads(r["payload"])}
            for r in rows
        ]  # fmt: skip


@pytest.fixture
async def desktop(endpoint: Endpoint, db: asyncpg.Pool) -> Desktop:
    connection = await connect(db, f"tenant-{uuid.uuid4().hex[:6]}")
    return Desktop(endpoint, db, connection, CompanyFile(non_latin1="reject"))


async def test_a_new_customer_is_found_first_then_added_with_its_external_guid(
    desktop: Desktop,
) -> None:
    acme = await desktop.customer(
        "Acme Ltd", company_name="Acme Limited", email="ap@acme.test",
        billing_address={"line1": "1 Main St", "city": "Springfield"},
    )  # fmt: skip
    sessions = await desktop.sync_until_idle()
    assert sessions[0].outcome == "done"
    await desktop.assert_linked_once(acme)
    (customer,) = desktop.company.customers.values()
    assert (customer.name, customer.text("CompanyName"), customer.text("Email")) == (
        "Acme Ltd", "Acme Limited", "ap@acme.test",
    )  # fmt: skip
    requests = [c.args["response"] for c in sessions[0].calls if c.method == "receiveResponseXML"]
    assert ["CustomerQueryRs" in r for r in requests] == [True, False]  # find, then add
    assert any("qb.customer-linked.v1" in json.dumps(e) for e in await desktop.events(acme))


async def test_an_unlinked_customer_of_the_same_name_is_linked_not_added(desktop: Desktop) -> None:
    existing = desktop.company.seed_customer("Acme Ltd")
    acme = await desktop.customer("Acme Ltd")
    await desktop.sync_until_idle()
    assert desktop.company.full_names() == ["Acme Ltd"]
    row = await desktop.row(acme)
    assert (row["status"], row["qb_customer_id"]) == ("synced", existing)


async def test_a_name_a_vendor_holds_is_a_decision_for_a_person_never_a_second_add(
    desktop: Desktop,
) -> None:
    desktop.company.add_other_name("Vendor", "Acme Ltd")
    acme = await desktop.customer("Acme Ltd")
    await desktop.sync_until_idle()
    assert desktop.company.customers == {}
    row = await desktop.row(acme)
    assert (row["status"], row["last_error_code"]) == ("needs_link", "3100")
    assert "vendor" in row["last_error_message"]


async def test_a_name_linked_to_another_customer_is_needs_link(desktop: Desktop) -> None:
    first = await desktop.customer("Acme Ltd")
    await desktop.sync_until_idle()
    second = await desktop.customer("Acme Ltd")
    await desktop.sync_until_idle()
    await desktop.assert_linked_once(first)
    row = await desktop.row(second)
    assert (row["status"], row["last_error_code"]) == ("needs_link", "name_linked_elsewhere")
    assert row["candidate_qb_customer_id"] == (await desktop.row(first))["qb_customer_id"]


async def test_a_reply_lost_after_the_add_was_applied_is_resolved_by_a_query(
    desktop: Desktop,
) -> None:
    acme = await desktop.customer("Acme Ltd")
    dropped = await desktop.session(faults=Faults(drop_reply_after_write=1))
    assert dropped.outcome == "dropped" and len(desktop.company.customers) == 1
    # Renamed on the platform meanwhile: the lost Add's name is searched too, never re-added.
    await desktop.change(acme, display_name="Acme Limited")
    await desktop.sync_until_idle()
    await desktop.assert_linked_once(acme)
    assert desktop.company.full_names() == ["Acme Limited"]
    assert desktop.company.message_sets > 0


def _requests_per_message_set(session: Session) -> list[list[str]]:
    """The request types of each message set qb-sync sent in the session."""
    sets = [c.result for c in session.calls if c.method == "sendRequestXML" and c.result]
    return [[t for t in ("CustomerQueryRq", "CustomerAddRq") for _ in range(s.count(f"<{t} "))]
            for s in sets]  # fmt: skip


async def test_many_pushes_share_message_sets_lookups_then_adds(desktop: Desktop) -> None:
    names = [f"Batch Co {i:02d}" for i in range(25)]
    seeded = desktop.company.seed_customer("Batch Co 03")  # found: linked, never added
    desktop.company.add_other_name("Vendor", "Batch Co 07")  # 3100 on its Add: needs a person
    ids = [await desktop.customer(n) for n in names]
    session = await desktop.session()
    await desktop.sync_until_idle()
    sets = _requests_per_message_set(session)
    # 20 lookups in one set (continueOnError); their 19 Adds in the next (Batch Co 03 was
    # found), beside the lookup of a 21st customer.
    assert sets[0] == ["CustomerQueryRq"] * 20
    assert sorted(sets[1]) == ["CustomerAddRq"] * 19 + ["CustomerQueryRq"]
    first = next(c.result for c in session.calls if c.method == "sendRequestXML" and c.result)
    assert 'onError="continueOnError"' in first
    assert len(sets) <= 6  # 25 customers: 2 round trips each if sent alone, 50 in all
    clash, found = ids.pop(7), ids.pop(3)
    row = await desktop.row(clash)
    assert (row["status"], row["last_error_code"]) == ("needs_link", "3100")
    row = await desktop.row(found)
    assert (row["status"], row["qb_customer_id"]) == ("synced", seeded)
    for customer_id in ids:  # each added once, carrying its ExternalGUID, and linked to it
        row = await desktop.row(customer_id)
        assert row["status"] == "synced" and desktop.ours(customer_id) == [row["qb_customer_id"]]
    assert sorted(desktop.company.full_names()) == sorted(n for n in names if n != "Batch Co 07")


async def test_a_lost_reply_to_a_set_of_adds_is_resolved_by_lookups_never_a_second_add(
    desktop: Desktop,
) -> None:
    ids = [await desktop.customer(f"Lost Set {i}") for i in range(6)]
    dropped = await desktop.session(faults=Faults(drop_reply_after_write=1))
    assert dropped.outcome == "dropped" and len(desktop.company.customers) == 6
    sessions = await desktop.sync_until_idle()
    after = [r for s in sessions for r in _requests_per_message_set(s)]
    assert "CustomerAddRq" not in {t for r in after for t in r}  # looked up, found, linked
    await desktop.assert_linked_once(*ids)


async def test_an_out_of_sequence_authenticate_after_a_write_never_resends_it(
    desktop: Desktop,
) -> None:
    acme = await desktop.customer("Acme Ltd")
    beta = await desktop.customer("Beta GmbH")
    session = await desktop.session(faults=Faults(out_of_sequence_after_write=True))
    assert session.methods.count("authenticate") == 2
    await desktop.sync_until_idle()
    await desktop.assert_linked_once(acme, beta)
    uncertain = await desktop.db.fetchval(
        "SELECT count(*) FROM qbd_requests WHERE kind = 'customer_push' AND status = 'uncertain'"
    )
    assert uncertain == 0


async def test_an_unknown_ticket_after_a_restart_gets_a_protocol_answer(desktop: Desktop) -> None:
    acme = await desktop.customer("Acme Ltd")
    lost = await desktop.session(faults=Faults(ticket_override="ticket-from-before-a-restart"))
    assert lost.outcome == "error"
    assert lost.last_error.startswith("Unknown or expired session")
    assert desktop.company.customers == {}
    await desktop.sync_until_idle()
    await desktop.assert_linked_once(acme)


async def test_two_web_connectors_at_once_leave_one_customer_each(desktop: Desktop) -> None:
    desktop.company.request_delay = 0.02  # the two sessions interleave
    customers = [await desktop.customer(f"Customer {i}") for i in range(6)]
    await asyncio.gather(desktop.session(), desktop.session())
    await desktop.sync_until_idle()
    await desktop.assert_linked_once(*customers)


async def test_an_empty_response_with_an_hresult_is_retried_later_not_forever(
    desktop: Desktop,
) -> None:
    acme = await desktop.customer("Acme Ltd")
    failed = await desktop.session(faults=Faults(hresult_empty_response=1))
    assert failed.outcome == "error" and failed.progress == [-1]
    row = await desktop.row(acme)
    assert (row["status"], row["last_error_code"], row["attempts"]) == (
        "pending", "quickbooks_error", 1,
    )  # fmt: skip
    await desktop.sync_until_idle()
    await desktop.assert_linked_once(acme)


async def test_a_locked_record_is_a_counted_retry_and_ends_failed_if_it_stays_locked(
    desktop: Desktop,
) -> None:
    acme = await desktop.customer("Acme Ltd")
    desktop.company.locked = True
    first = await desktop.session()
    assert first.outcome == "done"
    row = await desktop.row(acme)
    # Tried once in this session (its retry waits for the next run), then pending.
    assert (row["status"], row["last_error_code"], row["attempts"]) == ("pending", "3170", 1)
    desktop.company.locked = False
    await desktop.sync_until_idle()
    await desktop.assert_linked_once(acme)

    beta = await desktop.customer("Beta GmbH")
    desktop.company.locked = True
    sessions = await desktop.sync_until_idle(sessions=10)
    assert all(s.outcome in ("done", "none") for s in sessions)
    row = await desktop.row(beta)
    assert (row["status"], row["last_error_code"]) == ("failed", "3170")
    assert desktop.company.full_names() == ["Acme Ltd"]


async def test_rows_failed_on_a_lock_or_a_throw_are_retried_on_their_own_once_it_clears(
    desktop: Desktop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Beta's record stays locked through all its attempts; Gamma's QuickBooks keeps throwing
    # (an HRESULT, no response) through all of its: both end failed.
    beta = await desktop.customer("Beta GmbH")
    desktop.company.locked = True
    await desktop.sync_until_idle(sessions=10)
    desktop.company.locked = False
    gamma = await desktop.customer("Gamma SA")
    for _ in range(10):
        if (await desktop.row(gamma))["status"] == "failed":
            break
        await desktop.session(faults=Faults(hresult_empty_response=1))
        await asyncio.sleep(0.05)  # the retry's backoff
    assert [(r["status"], r["last_error_code"]) for r in
            [await desktop.row(beta), await desktop.row(gamma)]] == [
        ("failed", "3170"), ("failed", "quickbooks_error"),
    ]  # fmt: skip
    # Refused for what it is (permission denied): that one needs a person.
    desktop.company.permission_denied = True
    denied = await desktop.customer("Denied Ltd")
    await desktop.sync_until_idle()
    desktop.company.permission_denied = False
    assert (await desktop.row(denied))["status"] == "failed"

    # The lock is gone and QuickBooks answers; nobody presses retry. The next scheduled Web
    # Connector runs take the failed rows again (one probe first, the rest once it synced).
    monkeypatch.setenv("PUSH_AUTO_RETRY_BASE_SECONDS", "0.01")
    sessions = await desktop.sync_until_idle()
    assert sessions[0].outcome == "done"  # old code: authenticate said "none" (no work)
    await desktop.assert_linked_once(beta, gamma)
    still = await desktop.row(denied)
    assert (still["status"], still["auto_retries"]) == ("failed", 0)
    assert sorted(desktop.company.full_names()) == ["Beta GmbH", "Gamma SA"]


async def _locked_while(desktop: Desktop, customer_id: str, session: asyncio.Task[Session]) -> None:
    """Hold the push row locked (as another transaction touching it does for a moment) until
    the running session has been told to wait at least once."""
    async with desktop.db.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT 1 FROM push_mappings WHERE tenant_id = $1 AND realm_id = $2 "
            "AND customer_id = $3 FOR UPDATE",
            desktop.tenant,
            desktop.realm,
            customer_id,
        )

        async def told_to_wait() -> bool:
            return (
                bool(
                    await desktop.db.fetchval(
                        "SELECT EXISTS (SELECT 1 FROM qbd_sessions WHERE connection_id = $1 "
                        "AND last_error = 'NoOp')",
                        desktop.connection.connection_id,
                    )
                )
                or session.done()
            )

        await wait_for(told_to_wait, 20)
        await asyncio.sleep(0.3)


async def test_a_session_whose_only_row_is_locked_for_a_moment_waits_with_noop_then_pushes_it(
    desktop: Desktop,
) -> None:
    acme = await desktop.customer("Acme Ltd")
    running = asyncio.create_task(desktop.session())
    await _locked_while(desktop, acme, running)
    session = await running
    # The Web Connector was told NoOp (pause, ask again), not "" with an error that ends the
    # run (old code: "Nothing more to do.", the row left for the next scheduled run).
    waits = [c for c in session.calls if c.method == "getLastError"]
    assert waits and {c.result for c in waits} == {"NoOp"}
    assert session.outcome == "done", session.last_error
    await desktop.assert_linked_once(acme)


async def test_work_held_for_too_long_ends_the_session_and_waits_for_the_next_run(
    desktop: Desktop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_connector, "WAIT_FOR_HELD_WORK", timedelta(seconds=0.5))
    acme = await desktop.customer("Acme Ltd")
    async with desktop.db.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM push_mappings WHERE customer_id = $1 FOR UPDATE", acme)
        session = await desktop.session()
    assert session.outcome == "error" and session.last_error == "Nothing more to do."
    assert "NoOp" in {c.result for c in session.calls if c.method == "getLastError"}
    assert (await desktop.row(acme))["status"] == "pending"
    await desktop.sync_until_idle()
    await desktop.assert_linked_once(acme)


async def test_permission_denied_fails_the_row_and_tells_the_customer_service(
    desktop: Desktop,
) -> None:
    acme = await desktop.customer("Acme Ltd")
    desktop.company.permission_denied = True
    await desktop.sync_until_idle()
    row = await desktop.row(acme)
    assert (row["status"], row["last_error_code"]) == ("failed", "3260")
    assert any("qb.sync-failed.v1" in json.dumps(e) for e in await desktop.events(acme))
    assert desktop.company.customers == {}


async def test_updates_and_inactivation_use_the_current_edit_sequence(desktop: Desktop) -> None:
    acme = await desktop.customer("Acme Ltd", email="old@acme.test")
    await desktop.sync_until_idle()
    (list_id,) = desktop.ours(acme)
    desktop.company.edit_customer(list_id, Phone="555-0100")  # a change made in QuickBooks
    await desktop.change(acme, email="new@acme.test", active=False)
    await desktop.sync_until_idle()
    customer = desktop.company.customers[list_id]
    assert (customer.text("Email"), customer.is_active) == ("new@acme.test", False)
    assert customer.text("Phone") == "555-0100"  # QuickBooks' own edit survives
    await desktop.assert_linked_once(acme)


async def test_a_stale_edit_sequence_is_read_again_and_decided_again(desktop: Desktop) -> None:
    acme = await desktop.customer("Acme Ltd")
    await desktop.sync_until_idle()
    (list_id,) = desktop.ours(acme)
    company = desktop.company
    original = company.process

    def user_edits_before_the_mod(qbxml: str) -> str:
        if "CustomerModRq" in qbxml and not getattr(company, "edited", False):
            company.edited = True  # type: ignore[attr-defined]
            company.edit_customer(list_id, Fax="555-0199")
        return original(qbxml)

    company.process = user_edits_before_the_mod  # type: ignore[method-assign]
    await desktop.change(acme, display_name="Acme Limited")
    session = (await desktop.sync_until_idle())[0]
    answers = [c.args["response"] for c in session.calls if c.method == "receiveResponseXML"]
    assert sum('statusCode="3200"' in a for a in answers) == 1
    customer = company.customers[list_id]
    assert (customer.name, customer.text("Fax")) == ("Acme Limited", "555-0199")
    await desktop.assert_linked_once(acme)


async def test_sub_customers_are_jobs_under_their_parent(desktop: Desktop) -> None:
    parent = await desktop.customer("Acme Ltd", push=False)
    job = await desktop.customer("Warehouse 2", parent_id=parent)
    await desktop.sync_until_idle()
    assert desktop.company.full_names() == ["Acme Ltd", "Acme Ltd:Warehouse 2"]
    await desktop.assert_linked_once(parent, job)
    (job_id,) = desktop.ours(job)
    assert (
        desktop.company.customers[job_id].parent_id == (await desktop.row(parent))["qb_customer_id"]
    )


async def test_text_outside_latin1_is_transliterated_never_sent_as_question_marks(
    desktop: Desktop,
) -> None:
    # The company file refuses non-Latin-1 text outright (non_latin1="reject").
    moscow = await desktop.customer("Дмитрий Ltd", company_name="Müller & Søn")
    tokyo = await desktop.customer("東京 Trading")
    await desktop.sync_until_idle()
    await desktop.assert_linked_once(moscow, tokyo)
    assert desktop.company.full_names() == ["Dmitriy Ltd", "DongJing Trading"]
    (list_id,) = desktop.ours(moscow)
    assert desktop.company.customers[list_id].text("CompanyName") == "Müller & Søn"


async def test_one_tenants_session_never_pushes_another_tenants_customers(
    endpoint: Endpoint, db: asyncpg.Pool, desktop: Desktop
) -> None:
    other = Desktop(endpoint, db, await connect(db, "tenant-other"), CompanyFile())
    theirs = await other.customer("Their Customer")
    mine = await desktop.customer("My Customer")
    await desktop.sync_until_idle()
    assert desktop.company.full_names() == ["My Customer"]
    assert other.company.customers == {}
    assert (await other.row(theirs))["status"] == "pending"
    await desktop.assert_linked_once(mine)
