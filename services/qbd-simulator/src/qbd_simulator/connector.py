"""A simulated QuickBooks Web Connector: one `run()` is one Web Connector session against a SOAP
service, in the call order of Intuit's Web Connector Programmer's Guide, through a real SOAP
client (zeep) built from the Web Connector's WSDL shipped beside this module.

serverVersion → clientVersion → authenticate → [connectionError loop] → sendRequestXML /
receiveResponseXML loop (with getLastError on "" or a negative percentage, NoOp pauses) →
closeConnection. Fault knobs in `Faults`; every call is recorded in the session's `calls`.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import requests
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring
from zeep import Client, Settings
from zeep.exceptions import Error as ZeepError
from zeep.transports import Transport

from qbd_simulator.company import CompanyFile
from qbd_simulator.qbxml import HRESULT_PARSE_ERROR, QbXmlError

WSDL = resources.files("qbd_simulator") / "wsdl" / "QBWebConnectorSvc.wsdl"
BINDING = "{http://developer.intuit.com/}QBWebConnectorSvcSoap"
CLIENT_VERSION = "2.3.0.215"
STOP_WORDS = ("none", "nvu", "busy")
CONNECTION_RETRIES = 3  # the Guide: do not retry more than a couple of times


@dataclass
class Qwc:
    """The parts of a .qwc file the Web Connector uses to call a service."""

    app_url: str
    username: str
    owner_id: str
    file_id: str


@dataclass
class Faults:
    # Apply the next N write message sets in the company, then lose the reply: the session dies
    # before receiveResponseXML (the Web Connector or the network failed after QuickBooks wrote).
    drop_reply_after_write: int = 0
    # After QuickBooks answered the first request, call authenticate again instead of
    # receiveResponseXML (the network dropped a call), then go on with the new ticket.
    out_of_sequence_authenticate: bool = False
    # The same, but after the first write QuickBooks applied (the write's answer never arrives).
    out_of_sequence_after_write: bool = False
    # Use this ticket after authenticate (a ticket the service does not know, e.g. after it lost
    # its state in a restart).
    ticket_override: str | None = None
    # The next N message sets fail in QuickBooks' request processor: empty response + HRESULT.
    hresult_empty_response: int = 0
    hresult: str = HRESULT_PARSE_ERROR
    # The company file cannot be opened N times: connectionError until "done" or it opens.
    connection_failures: int = 0


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    result: Any


@dataclass
class Session:
    calls: list[Call] = field(default_factory=list)
    outcome: str = ""  # none | nvu | busy | done | error | refused | dropped | connection
    last_error: str = ""
    progress: list[int] = field(default_factory=list)
    ticket: str = ""

    @property
    def methods(self) -> list[str]:
        return [c.method for c in self.calls]


class RunawaySession(AssertionError):
    """The service kept the session going past the round-trip guard."""


class WebConnector:
    def __init__(
        self,
        qwc: Qwc,
        password: str,
        company: CompanyFile,
        *,
        faults: Faults | None = None,
        max_round_trips: int = 1000,
        noop_pause: float = 5.0,
        timeout: float = 30.0,
    ) -> None:
        self.qwc, self.password, self.company = qwc, password, company
        self.faults = faults or Faults()
        self.max_round_trips = max_round_trips
        self.noop_pause = noop_pause  # the real Web Connector waits about 5 s after a NoOp
        session = requests.Session()
        client = Client(
            str(WSDL),
            transport=Transport(session=session, timeout=timeout, operation_timeout=timeout),
            settings=Settings(strict=True, xml_huge_tree=True),
        )
        self._service = client.create_service(BINDING, qwc.app_url)

    def _call(self, session: Session, method: str, **args: Any) -> Any:
        result = getattr(self._service, method)(**args)
        if method == "authenticate":
            items = getattr(result, "string", result)  # zeep may unwrap ArrayOfString to a list
            result = [s or "" for s in (items or [])]
        elif result is None and method != "receiveResponseXML":
            result = ""
        shown = {k: ("***" if k == "strPassword" else v) for k, v in args.items()}
        session.calls.append(Call(method, shown, result))
        return result

    def run(self) -> Session:
        """One session; a SOAP fault or HTTP error ends it with outcome "error" (the real Web
        Connector shows the error and stops)."""
        session = Session()
        try:
            self._run(session)
        except ZeepError as exc:
            session.outcome, session.last_error = "error", f"{type(exc).__name__}: {exc}"
        except requests.RequestException as exc:
            session.outcome, session.last_error = "error", f"{type(exc).__name__}: {exc}"
        finally:
            self.company.end_session()
        return session

    def _run(self, session: Session) -> None:
        self._call(session, "serverVersion")
        verdict = self._call(session, "clientVersion", strVersion=CLIENT_VERSION)
        if verdict.startswith(("E:", "O:")):
            session.outcome, session.last_error = "refused", verdict
            return
        if not self._authenticate(session):
            return
        company_file = self._open_company(session)
        if company_file is None:
            return
        self.company.open_for(self.qwc.owner_id, self.qwc.file_id)
        self._exchange(session, company_file)

    def _authenticate(self, session: Session) -> bool:
        answer = self._call(
            session, "authenticate", strUserName=self.qwc.username, strPassword=self.password
        )
        if len(answer) < 2 or len(answer) > 4:
            session.outcome = "error"
            session.last_error = f"QBWC1012: authenticate returned {len(answer)} items"
            return False
        session.ticket = self.faults.ticket_override or answer[0]
        if answer[1] in STOP_WORDS:
            session.outcome = answer[1]
            self._call(session, "closeConnection", ticket=answer[0])
            return False
        self._company_path = answer[1]
        return True

    def _open_company(self, session: Session) -> str | None:
        path = self._company_path or self.company.path
        tries = 0
        while self.faults.connection_failures > 0:
            self.faults.connection_failures -= 1
            tries += 1
            answer = self._call(
                session,
                "connectionError",
                ticket=session.ticket,
                hresult="0x80040408",
                message="Could not start QuickBooks.",
            )
            if answer == "done" or tries >= CONNECTION_RETRIES:
                session.outcome = "connection"
                self._call(session, "closeConnection", ticket=session.ticket)
                return None
            path = answer or self.company.path
        return path

    def _exchange(self, session: Session, company_file: str) -> None:
        hcp = self.company.hcp_response()
        for _ in range(self.max_round_trips):
            request = self._call(
                session,
                "sendRequestXML",
                ticket=session.ticket,
                strHCPResponse=hcp,
                strCompanyFileName=company_file,
                qbXMLCountry="US",
                qbXMLMajorVers=13,
                qbXMLMinorVers=0,
            )
            hcp = ""  # only the first call of a session carries it
            if not request:
                session.last_error = self._call(session, "getLastError", ticket=session.ticket)
                if session.last_error == "NoOp":
                    time.sleep(self.noop_pause)
                    continue
                session.outcome = "error"
                break
            response, hresult, message = self._qbxml(request)
            if self.faults.drop_reply_after_write and _is_write(request):
                self.faults.drop_reply_after_write -= 1
                session.outcome = "dropped"
                return
            resent = self.faults.out_of_sequence_after_write and _is_write(request)
            if self.faults.out_of_sequence_authenticate or resent:
                self.faults.out_of_sequence_authenticate = False
                self.faults.out_of_sequence_after_write = False
                if not self._authenticate(session):
                    return
                hcp = self.company.hcp_response()
                continue
            percent = self._call(
                session,
                "receiveResponseXML",
                ticket=session.ticket,
                response=response,
                hresult=hresult,
                message=message,
            )
            percent = int(percent)
            session.progress.append(percent)
            if percent < 0:
                session.last_error = self._call(session, "getLastError", ticket=session.ticket)
                session.outcome = "error"
                break
            if percent >= 100:
                session.outcome = "done"
                break
        else:
            raise RunawaySession(f"no end after {self.max_round_trips} round trips")
        self._call(session, "closeConnection", ticket=session.ticket)

    def _qbxml(self, request: str) -> tuple[str, str, str]:
        if self.faults.hresult_empty_response:
            self.faults.hresult_empty_response -= 1
            return (
                "",
                self.faults.hresult,
                "QuickBooks found an error when parsing the provided XML text stream.",
            )
        try:
            return self.company.process(request), "", ""
        except QbXmlError as exc:
            return "", exc.hresult, exc.message


def _is_write(request: str) -> bool:
    try:
        root = safe_fromstring(request.encode("utf-8"))
    except (ET.ParseError, DefusedXmlException):
        return False
    return any(child.tag.endswith(("AddRq", "ModRq")) for child in root.iter())
