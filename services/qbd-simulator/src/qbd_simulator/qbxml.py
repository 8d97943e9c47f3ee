"""Reading a qbXML request message set and writing its response, as QuickBooks' request processor
does: a message it cannot parse is an HRESULT (0x80040400), not a status inside a response."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from defusedxml.ElementTree import DefusedXMLParser

HRESULT_PARSE_ERROR = "0x80040400"
# The qbXML versions the simulated host accepts (QuickBooks 2018+ report up to 13.0).
SUPPORTED_VERSIONS = ("1.0", "1.1", "2.0", "2.1", "3.0", "4.0", "4.1", "5.0", "6.0", "7.0",
                      "8.0", "10.0", "11.0", "12.0", "13.0")  # fmt: skip


class QbXmlError(Exception):
    """What QuickBooks raises instead of answering: the Web Connector passes it on as the
    `hresult`/`message` of receiveResponseXML with an empty response."""

    def __init__(self, hresult: str, message: str) -> None:
        super().__init__(f"{hresult}: {message}")
        self.hresult = hresult
        self.message = message


def parse_error(message: str) -> QbXmlError:
    return QbXmlError(
        HRESULT_PARSE_ERROR,
        f"QuickBooks found an error when parsing the provided XML text stream. {message}",
    )


@dataclass
class MessageSet:
    version: str
    on_error: str  # stopOnError | continueOnError
    requests: list[ET.Element]


class _PiCollector(ET.TreeBuilder):
    def __init__(self) -> None:
        super().__init__()
        self.pis: list[tuple[str, str]] = []

    def pi(self, target: str, text: str | None = None) -> ET.Element:
        self.pis.append((target, text or ""))
        return super().pi(target, text)


def _qbxml_version(pis: list[tuple[str, str]]) -> str:
    for target, text in pis:
        if target == "qbxml":
            name, _, value = text.strip().partition("=")
            if name.strip() == "version":
                return value.strip().strip("\"'")
    raise parse_error("The <?qbxml version=...?> processing instruction is missing.")


def parse_message_set(text: str) -> MessageSet:
    """A request message set; raises QbXmlError for anything QuickBooks would refuse to parse."""
    builder = _PiCollector()
    parser = DefusedXMLParser(target=builder)
    try:
        parser.feed(text.encode("utf-8") if isinstance(text, str) else text)
        root = parser.close()
    except Exception as exc:  # expat errors and defusedxml's forbidden constructs alike
        raise parse_error(f"Not well-formed: {exc}") from None
    version = _qbxml_version(builder.pis)
    if version not in SUPPORTED_VERSIONS:
        raise parse_error(f'Unsupported qbXML version "{version}".')
    if root.tag != "QBXML" or len(root) != 1 or root[0].tag != "QBXMLMsgsRq":
        raise parse_error("The root must be QBXML holding one QBXMLMsgsRq.")
    msgs = root[0]
    on_error = msgs.get("onError")
    if on_error not in ("stopOnError", "continueOnError"):
        raise parse_error('QBXMLMsgsRq needs onError="stopOnError" or "continueOnError".')
    return MessageSet(version, on_error, list(msgs))


def render_response(responses: list[ET.Element]) -> str:
    root = ET.Element("QBXML")
    msgs = ET.SubElement(root, "QBXMLMsgsRs")
    msgs.extend(responses)
    return '<?xml version="1.0" ?>\n' + ET.tostring(root, encoding="unicode")


def text_of(elem: ET.Element, tag: str) -> str | None:
    child = elem.find(tag)
    return None if child is None else (child.text or "")
