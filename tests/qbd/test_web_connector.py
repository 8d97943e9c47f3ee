"""The simulated Web Connector calls a SOAP service in the real Web Connector's order and reacts
to its answers as the Programmer's Guide says (docs/reference/quickbooks-desktop.md#callbacks-in-call-order)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from qbd_simulator.company import CompanyFile
from qbd_simulator.connector import Faults, Qwc, RunawaySession, Session, WebConnector
from tests.qbd.qbxml_helpers import customer_add, message_set
from tests.qbd.soap_stub import Script, scripted_service

QUERY = message_set(
    '<CustomerQueryRq requestID="q1"><ActiveStatus>All</ActiveStatus></CustomerQueryRq>'
)
BASE: Script = {
    "serverVersion": lambda p: "test 1.0",
    "clientVersion": lambda p: "",
    "authenticate": lambda p: ["tk", ""],
    "getLastError": lambda p: "something went wrong",
    "closeConnection": lambda p: "OK",
    "connectionError": lambda p: "done",
}


def sequence(*answers: Any) -> Any:
    it: Iterator[Any] = iter(answers)
    return lambda p: next(it)


def run(
    script: Script, company: CompanyFile | None = None, **kw: Any
) -> tuple[Session, list[tuple[str, dict[str, str]]]]:
    with scripted_service({**BASE, **script}) as (url, seen):
        qwc = Qwc(url, "acme", "{OWNER}", "{FILE}")
        connector = WebConnector(qwc, "pw", company or CompanyFile(), noop_pause=0, **kw)
        return connector.run(), seen


def test_no_work_ends_after_authenticate_with_close() -> None:
    session, seen = run({"authenticate": lambda p: ["tk", "none"]})
    assert session.methods == ["serverVersion", "clientVersion", "authenticate", "closeConnection"]
    assert session.outcome == "none"
    assert seen[0] == ("serverVersion", {})  # sent with no parameters, as Web Connector 2.x does
    assert seen[2] == ("authenticate", {"strUserName": "acme", "strPassword": "pw"})


def test_invalid_user_stops() -> None:
    session, _ = run({"authenticate": lambda p: ["", "nvu"]})
    assert (session.outcome, session.methods[-1]) == ("nvu", "closeConnection")


def test_a_refused_client_version_stops_before_authenticate() -> None:
    session, _ = run({"clientVersion": lambda p: "E:too old"})
    assert (session.outcome, session.methods) == ("refused", ["serverVersion", "clientVersion"])


def test_requests_go_to_the_company_file_and_the_loop_ends_at_100() -> None:
    company = CompanyFile()
    company.seed_customer("Acme")
    session, seen = run(
        {"sendRequestXML": sequence(QUERY, QUERY), "receiveResponseXML": sequence(50, 100)},
        company,
    )
    assert session.methods == [
        "serverVersion", "clientVersion", "authenticate", "sendRequestXML", "receiveResponseXML",
        "sendRequestXML", "receiveResponseXML", "closeConnection",
    ]  # fmt: skip
    sends = [p for m, p in seen if m == "sendRequestXML"]
    assert "<HostRet>" in sends[0]["strHCPResponse"] and "{FILE}" in sends[0]["strHCPResponse"]
    assert sends[1]["strHCPResponse"] == ""  # only the first call carries it
    received = [p for m, p in seen if m == "receiveResponseXML"]
    assert (
        'requestID="q1"' in received[0]["response"]
        and "<Name>Acme</Name>" in received[0]["response"]
    )
    assert (session.outcome, session.progress) == ("done", [50, 100])


def test_noop_pauses_and_asks_again_other_errors_close() -> None:
    session, _ = run(
        {
            "sendRequestXML": sequence("", QUERY, ""),
            "getLastError": sequence("NoOp", "nothing more"),
            "receiveResponseXML": sequence(60),
        }
    )
    assert session.methods[3:] == [
        "sendRequestXML", "getLastError", "sendRequestXML", "receiveResponseXML",
        "sendRequestXML", "getLastError", "closeConnection",
    ]  # fmt: skip
    assert (session.outcome, session.last_error) == ("error", "nothing more")


def test_a_negative_percentage_asks_for_the_error_then_closes() -> None:
    session, _ = run({"sendRequestXML": sequence(QUERY), "receiveResponseXML": sequence(-3)})
    assert session.methods[-3:] == ["receiveResponseXML", "getLastError", "closeConnection"]
    assert session.outcome == "error"


def test_the_runaway_guard_stops_a_session_that_never_ends() -> None:
    with pytest.raises(RunawaySession):
        run(
            {"sendRequestXML": lambda p: QUERY, "receiveResponseXML": lambda p: 10},
            max_round_trips=5,
        )


def test_connection_errors_retry_with_the_returned_path_a_few_times_at_most() -> None:
    retry_forever, _ = run({"connectionError": lambda p: ""}, faults=Faults(connection_failures=9))
    assert retry_forever.methods.count("connectionError") == 3
    assert retry_forever.outcome == "connection"
    done, seen = run({"connectionError": lambda p: "done"}, faults=Faults(connection_failures=9))
    assert done.methods[3:] == ["connectionError", "closeConnection"]
    assert seen[3] == (
        "connectionError",
        {"ticket": "tk", "hresult": "0x80040408", "message": "Could not start QuickBooks."},
    )


def test_a_parse_failure_reaches_the_service_as_an_empty_response_with_the_hresult() -> None:
    _, seen = run(
        {"sendRequestXML": sequence(QUERY), "receiveResponseXML": sequence(100)},
        faults=Faults(hresult_empty_response=1),
    )
    (received,) = [p for m, p in seen if m == "receiveResponseXML"]
    assert (received["response"], received["hresult"]) == ("", "0x80040400")
    bad_order = message_set(
        "<CustomerAddRq><CustomerAdd><IsActive>true</IsActive><Name>X</Name></CustomerAdd></CustomerAddRq>"
    )
    _, seen = run({"sendRequestXML": sequence(bad_order), "receiveResponseXML": sequence(100)})
    (received,) = [p for m, p in seen if m == "receiveResponseXML"]
    assert (received["response"], received["hresult"]) == ("", "0x80040400")


def test_a_reply_dropped_after_a_write_leaves_the_write_applied_and_the_service_uninformed() -> (
    None
):
    company = CompanyFile()
    session, _ = run(
        {"sendRequestXML": sequence(message_set(customer_add("Acme")))},
        company,
        faults=Faults(drop_reply_after_write=1),
    )
    assert session.outcome == "dropped"
    assert "receiveResponseXML" not in session.methods
    assert company.full_names() == ["Acme"]


def test_an_out_of_sequence_authenticate_starts_over_with_a_new_ticket() -> None:
    session, _ = run(
        {
            "authenticate": sequence(["t1", ""], ["t2", ""]),
            "sendRequestXML": sequence(QUERY, QUERY),
            "receiveResponseXML": sequence(100),
        },
        faults=Faults(out_of_sequence_authenticate=True),
    )
    assert session.methods[2:] == [
        "authenticate", "sendRequestXML", "authenticate", "sendRequestXML", "receiveResponseXML",
        "closeConnection",
    ]  # fmt: skip
    assert session.calls[-1].args == {"ticket": "t2"}
