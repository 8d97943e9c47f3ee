"""The simulated QuickBooks Desktop company file answers qbXML as QuickBooks does for what the
sync relies on (services/qbd-simulator/README.md lists each behaviour with its source)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from qbd_simulator.company import CompanyFile
from qbd_simulator.qbxml import HRESULT_PARSE_ERROR, QbXmlError
from tests.qbd.qbxml_helpers import customer_add, message_set, responses


def one(company: CompanyFile, request: str, **kw: str) -> ET.Element:
    (response,) = responses(company.process(message_set(request, **kw)))
    return response


def query(inner: str = "", attrs: str = "") -> str:
    return f'<CustomerQueryRq requestID="q" {attrs}>{inner}</CustomerQueryRq>'


def test_add_a_job_under_a_customer_gives_parent_colon_job_and_sublevels() -> None:
    company = CompanyFile()
    company.seed_customer("Acme Inc", CompanyName="Acme Incorporated")
    company.seed_customer("Warehouse 2", parent="Acme Inc")
    rs = one(company, customer_add("Dock", "r-7", parent="Acme Inc:Warehouse 2"))
    assert (rs.get("requestID"), rs.get("statusCode"), rs.get("statusSeverity")) == (
        "r-7",
        "0",
        "Info",
    )
    ret = rs.find("CustomerRet")
    assert ret is not None
    assert ret.findtext("FullName") == "Acme Inc:Warehouse 2:Dock"
    assert ret.findtext("Sublevel") == "2"
    assert ret.findtext("ParentRef/FullName") == "Acme Inc:Warehouse 2"
    assert [e.tag for e in ret][:7] == [
        "ListID", "TimeCreated", "TimeModified", "EditSequence", "Name", "FullName", "IsActive",
    ]  # fmt: skip


def test_a_name_is_unique_across_customers_vendors_employees_and_other_names() -> None:
    company = CompanyFile()
    company.seed_customer("Acme")
    company.add_other_name("Vendor", "Bolt Supply")
    assert one(company, customer_add("acme")).get("statusCode") == "3100"
    rs = one(company, customer_add("Bolt Supply"))
    assert (rs.get("statusCode"), rs.get("statusSeverity")) == ("3100", "Error")
    assert (
        rs.get("statusMessage") == 'The name "Bolt Supply" of the list element is already in use.'
    )
    # a job only collides under its own parent
    company.seed_customer("Site", parent="Acme")
    company.seed_customer("Other")
    assert one(company, customer_add("Site", parent="Other")).get("statusCode") == "0"
    assert company.full_names() == ["Acme", "Acme:Site", "Other", "Other:Site"]


def test_case_sensitivity_of_names_is_a_switch() -> None:
    company = CompanyFile(case_sensitive_names=True)
    company.seed_customer("Acme")
    assert one(company, customer_add("ACME")).get("statusCode") == "0"


def test_a_missing_parent_is_3120() -> None:
    rs = one(CompanyFile(), customer_add("Job", parent="Nobody"))
    assert rs.get("statusCode") == "3120"


def test_active_status_defaults_to_active_only_and_lookups_by_name_see_inactive() -> None:
    company = CompanyFile()
    company.seed_customer("Alive")
    gone = company.seed_customer("Gone", IsActive="false")
    names = lambda rs: [r.findtext("Name") for r in rs]  # noqa: E731
    assert names(one(company, query())) == ["Alive"]
    assert names(one(company, query("<ActiveStatus>All</ActiveStatus>"))) == ["Alive", "Gone"]
    assert names(one(company, query("<FullName>Gone</FullName>"))) == ["Gone"]
    assert names(one(company, query(f"<ListID>{gone}</ListID>"))) == ["Gone"]


def test_no_match_is_1_and_a_named_object_missing_is_500() -> None:
    company = CompanyFile()
    company.seed_customer("Acme")
    empty = one(
        company,
        query("<NameFilter><MatchCriterion>StartsWith</MatchCriterion><Name>Z</Name></NameFilter>"),
    )
    assert (empty.get("statusCode"), empty.get("statusSeverity"), len(empty)) == ("1", "Info", 0)
    missing = one(company, query("<FullName>Acme</FullName><FullName>Nope</FullName>"))
    assert (missing.get("statusCode"), missing.get("statusSeverity")) == ("500", "Warn")
    assert [r.findtext("Name") for r in missing] == ["Acme"]


def test_iterators_page_through_and_report_what_remains() -> None:
    company = CompanyFile()
    for i in range(7):
        company.seed_customer(f"C{i}")
    first = one(
        company,
        query("<MaxReturned>3</MaxReturned><ActiveStatus>All</ActiveStatus>", 'iterator="Start"'),
    )
    iterator_id = first.get("iteratorID")
    assert (first.get("iteratorRemainingCount"), first.get("retCount"), len(first)) == ("4", "3", 3)
    seen = [r.findtext("Name") for r in first]
    while True:
        page = one(
            company,
            query(
                "<MaxReturned>3</MaxReturned>", f'iterator="Continue" iteratorID="{iterator_id}"'
            ),
        )
        seen += [r.findtext("Name") for r in page]
        if page.get("iteratorRemainingCount") == "0":
            break
    assert seen == [f"C{i}" for i in range(7)]
    # an exhausted iterator is gone
    stale = one(
        company,
        query("<MaxReturned>3</MaxReturned>", f'iterator="Continue" iteratorID="{iterator_id}"'),
    )
    assert (stale.get("statusCode"), stale.get("statusSeverity")) == ("3391", "Error")


def test_an_iterator_does_not_outlive_its_session_or_its_time_to_live() -> None:
    now = [datetime(2026, 1, 5, 9, 0, tzinfo=UTC)]
    company = CompanyFile(clock=lambda: now[0], iterator_ttl=timedelta(minutes=1))
    for i in range(4):
        company.seed_customer(f"C{i}")

    def start():
        return one(company, query("<MaxReturned>1</MaxReturned>", 'iterator="Start"')).get(
            "iteratorID"
        )

    def cont(i):
        return one(
            company, query("<MaxReturned>1</MaxReturned>", f'iterator="Continue" iteratorID="{i}"')
        )

    it = start()
    company.end_session()
    assert cont(it).get("statusCode") == "3391"
    it = start()
    now[0] += timedelta(minutes=2)
    assert cont(it).get("statusCode") == "3391"


def test_mod_needs_the_current_edit_sequence_and_bumps_it() -> None:
    company = CompanyFile()
    list_id = company.seed_customer("Acme")
    current = one(company, query(f"<ListID>{list_id}</ListID>"))[0].findtext("EditSequence")
    mod = lambda seq, name: (  # noqa: E731
        f'<CustomerModRq requestID="m"><CustomerMod><ListID>{list_id}</ListID>'
        f"<EditSequence>{seq}</EditSequence><Name>{name}</Name></CustomerMod></CustomerModRq>"
    )
    done = one(company, mod(current, "Acme Ltd"))
    assert done.get("statusCode") == "0"
    assert done[0].findtext("EditSequence") != current
    stale = one(company, mod(current, "Acme Again"))
    assert (stale.get("statusCode"), stale.get("statusSeverity")) == ("3200", "Error")
    assert company.full_names() == ["Acme Ltd"]
    missing = one(company, mod("1", "X").replace(list_id, "80009999-1"))
    assert missing.get("statusCode") == "3120"


def test_renaming_a_parent_renames_its_jobs_full_names() -> None:
    company = CompanyFile()
    parent = company.seed_customer("Acme")
    company.seed_customer("Site", parent="Acme")
    seq = one(company, query(f"<ListID>{parent}</ListID>"))[0].findtext("EditSequence")
    one(
        company,
        f"<CustomerModRq><CustomerMod><ListID>{parent}</ListID><EditSequence>{seq}</EditSequence><Name>Acme 2</Name></CustomerMod></CustomerModRq>",
    )
    assert company.full_names() == ["Acme 2", "Acme 2:Site"]


def test_modified_since_and_deleted_lists_feed_incremental_refreshes() -> None:
    now = [datetime(2026, 1, 5, 9, 0, tzinfo=UTC)]
    company = CompanyFile(clock=lambda: now[0])
    old = company.seed_customer("Old")
    now[0] += timedelta(hours=1)
    company.seed_customer("New")
    company.delete_customer(old)
    recent = one(
        company,
        query(
            "<ActiveStatus>All</ActiveStatus><FromModifiedDate>2026-01-05T01:30:00</FromModifiedDate>"
        ),
    )
    assert [r.findtext("Name") for r in recent] == ["New"]  # 01:30 Pacific is 09:30 UTC
    deleted = one(
        company,
        '<ListDeletedQueryRq requestID="d"><ListDelType>Customer</ListDelType></ListDeletedQueryRq>',
    )
    assert deleted.get("requestID") == "d"
    assert [(r.findtext("ListID"), r.findtext("FullName")) for r in deleted] == [(old, "Old")]


def test_element_order_and_the_qbxml_instruction_are_checked_before_anything_runs() -> None:
    company = CompanyFile()
    out_of_order = "<CustomerAddRq><CustomerAdd><CompanyName>X</CompanyName><Name>X</Name></CustomerAdd></CustomerAddRq>"
    good = customer_add("Fine")
    with pytest.raises(QbXmlError) as raised:
        company.process(message_set(good, out_of_order))
    assert raised.value.hresult == HRESULT_PARSE_ERROR
    no_pi = message_set(good).replace('<?qbxml version="13.0"?>', "")
    with pytest.raises(QbXmlError):
        company.process(no_pi)
    with pytest.raises(QbXmlError):
        company.process(message_set(good, version="99.0"))
    with pytest.raises(QbXmlError):
        company.process("<QBXML><not closed")
    assert company.full_names() == []


def test_stop_on_error_halts_the_set_and_continue_on_error_goes_on() -> None:
    company = CompanyFile()
    company.seed_customer("Taken")
    stopped = responses(
        company.process(message_set(customer_add("Taken", "a"), customer_add("B", "b")))
    )
    assert [(r.get("requestID"), r.get("statusCode")) for r in stopped] == [("a", "3100")]
    went_on = responses(
        company.process(
            message_set(
                customer_add("Taken", "a"), customer_add("B", "b"), on_error="continueOnError"
            )
        )
    )
    assert [(r.get("requestID"), r.get("statusCode")) for r in went_on] == [
        ("a", "3100"),
        ("b", "0"),
    ]


def test_text_outside_latin_1_is_stored_as_question_marks_or_refused() -> None:
    company = CompanyFile()
    assert one(company, customer_add("Café Ωmega")).findtext("CustomerRet/Name") == "Café ?mega"
    strict = CompanyFile(non_latin1="reject")
    with pytest.raises(QbXmlError):
        strict.process(message_set(customer_add("Ωmega")))


def test_write_knobs_locked_permission_and_a_raised_hresult() -> None:
    company = CompanyFile()
    company.locked = True
    assert one(company, customer_add("A")).get("statusCode") == "3170"
    company.locked, company.permission_denied = False, True
    assert one(company, customer_add("A")).get("statusCode") == "3260"
    company.permission_denied = False
    company.raise_next = QbXmlError("0x80040408", "Could not start QuickBooks.")
    with pytest.raises(QbXmlError):
        company.process(message_set(customer_add("A")))
    assert one(company, customer_add("A")).get("statusCode") == "0"
    assert company.full_names() == ["A"]


def test_addresses_merge_on_mod_and_an_empty_element_clears() -> None:
    company = CompanyFile()
    list_id = company.seed_customer("Acme")
    seq = one(company, query(f"<ListID>{list_id}</ListID>"))[0].findtext("EditSequence")
    rs = one(
        company,
        f"<CustomerModRq><CustomerMod><ListID>{list_id}</ListID><EditSequence>{seq}</EditSequence>"
        "<BillAddress><Addr1>1 Main St</Addr1><City>Springfield</City></BillAddress>"
        "<Email>a@acme.test</Email></CustomerMod></CustomerModRq>",
    )
    seq = rs[0].findtext("EditSequence")
    rs = one(
        company,
        f"<CustomerModRq><CustomerMod><ListID>{list_id}</ListID><EditSequence>{seq}</EditSequence>"
        "<BillAddress><City>Shelbyville</City></BillAddress><Email></Email></CustomerMod></CustomerModRq>",
    )
    ret = rs[0]
    assert (ret.findtext("BillAddress/Addr1"), ret.findtext("BillAddress/City")) == (
        "1 Main St",
        "Shelbyville",
    )
    assert ret.find("Email") is None
