"""The Web Connector's SOAP 1.1 document/literal envelopes (namespace http://developer.intuit.com/,
docs/reference/quickbooks-desktop.md#callbacks-in-call-order): reading a call and writing its
`<XResponse><XResult>`. Parsing goes through domain/qbd/safe_xml.py (no DTD, no entity, bounded
depth); parameter names are matched by local name, so a client that spells `strCompanyFilename`
differently or omits the namespace still works. A call whose SOAPAction header names another
operation than its body is refused (WS-I Basic Profile 1.1 R2744)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from qb_sync.domain.qbd.safe_xml import UnreadableXml, parse_xml

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
TNS = "http://developer.intuit.com/"
OPERATIONS = {
    "serverVersion", "clientVersion", "authenticate", "sendRequestXML", "receiveResponseXML",
    "connectionError", "getLastError", "closeConnection",
}  # fmt: skip


class BadSoap(Exception):
    """Not a Web Connector call: answered with a SOAP fault (Client, or VersionMismatch for an
    envelope of another SOAP version), never a stack trace."""

    def __init__(self, message: str, code: str = "Client") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SoapCall:
    operation: str
    params: dict[str, str]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_call(body: bytes, soap_action: str | None) -> SoapCall:
    """`soap_action`: the SOAPAction header as sent (None when absent)."""
    if not body.strip():
        raise BadSoap("the body is empty: a SOAP 1.1 envelope is expected")
    try:
        root = parse_xml(body)
    except UnreadableXml as exc:
        raise BadSoap(f"the body is {exc}") from None
    if _local(root.tag) == "Envelope" and root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise BadSoap("only SOAP 1.1 envelopes are understood", "VersionMismatch")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise BadSoap("the body is not a SOAP 1.1 envelope")
    soap_body = root.find(f"{{{SOAP_ENV}}}Body")
    if soap_body is None or len(soap_body) != 1:
        raise BadSoap("the SOAP body must hold exactly one call")
    call = soap_body[0]
    operation = _local(call.tag)
    if operation not in OPERATIONS:
        raise BadSoap(f"unknown operation {operation[:60]!r}")
    if soap_action is None:
        raise BadSoap("the SOAPAction header is missing")
    if soap_action.strip().strip('"') != TNS + operation:
        raise BadSoap(f"the SOAPAction header does not name the operation {operation}")
    params = {_local(child.tag).lower(): child.text or "" for child in call}
    return SoapCall(operation, params)


def _envelope(inner: ET.Element) -> bytes:
    return (
        b'<?xml version="1.0" encoding="utf-8"?>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        + ET.tostring(inner, encoding="utf-8", xml_declaration=False)
        + b"</soap:Body></soap:Envelope>"
    )


def render_result(operation: str, result: str | int | list[str]) -> bytes:
    response = ET.Element(f"{operation}Response", xmlns=TNS)
    out = ET.SubElement(response, f"{operation}Result")
    if isinstance(result, list):
        for item in result:
            ET.SubElement(out, "string").text = item
    else:
        out.text = str(result)
    return _envelope(response)


def render_fault(message: str, code: str = "Client") -> bytes:
    fault = ET.Element(f"{{{SOAP_ENV}}}Fault")
    ET.SubElement(fault, "faultcode").text = f"soap:{code}"
    ET.SubElement(fault, "faultstring").text = message
    text = ET.tostring(fault, encoding="unicode").replace("ns0:", "soap:")
    text = text.replace(f' xmlns:ns0="{SOAP_ENV}"', "")
    return (
        b'<?xml version="1.0" encoding="utf-8"?>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        + text.encode()
        + b"</soap:Body></soap:Envelope>"
    )
