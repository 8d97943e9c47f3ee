"""The Web Connector's SOAP 1.1 document/literal envelopes (namespace http://developer.intuit.com/,
docs/reference/quickbooks-desktop.md#callbacks-in-call-order): reading a call and writing its
`<XResponse><XResult>`. Parsing goes through defusedxml; parameter names are matched by local
name, so a client that spells `strCompanyFilename` differently or omits the namespace still works."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib import resources

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "http://developer.intuit.com/"
WSDL = (resources.files("qb_sync.qbd") / "QBWebConnectorSvc.wsdl").read_text()
OPERATIONS = {
    "serverVersion", "clientVersion", "authenticate", "sendRequestXML", "receiveResponseXML",
    "connectionError", "getLastError", "closeConnection",
}  # fmt: skip


class BadSoap(Exception):
    """Not a Web Connector call: answered with a SOAP Client fault, never a stack trace."""


@dataclass(frozen=True)
class SoapCall:
    operation: str
    params: dict[str, str]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_call(body: bytes) -> SoapCall:
    try:
        root = fromstring(body)
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        raise BadSoap(f"the body is not well-formed XML ({type(exc).__name__})") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise BadSoap("the body is not a SOAP 1.1 envelope")
    soap_body = root.find(f"{{{SOAP_ENV}}}Body")
    if soap_body is None or len(soap_body) != 1:
        raise BadSoap("the SOAP body must hold exactly one call")
    call = soap_body[0]
    operation = _local(call.tag)
    if operation not in OPERATIONS:
        raise BadSoap(f"unknown operation {operation[:60]!r}")
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


def render_fault(message: str) -> bytes:
    fault = ET.Element(f"{{{SOAP_ENV}}}Fault")
    ET.SubElement(fault, "faultcode").text = "soap:Client"
    ET.SubElement(fault, "faultstring").text = message
    text = ET.tostring(fault, encoding="unicode").replace("ns0:", "soap:")
    text = text.replace(f' xmlns:ns0="{SOAP_ENV}"', "")
    return (
        b'<?xml version="1.0" encoding="utf-8"?>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        + text.encode()
        + b"</soap:Body></soap:Envelope>"
    )
