"""The one way qb-sync reads XML from outside (the Web Connector's SOAP calls and the qbXML
QuickBooks answers with): defusedxml with DTDs, entities and external references refused (no
entity is ever expanded, no file or URL is ever opened) and elements nested at most MAX_DEPTH
deep. SOAP 1.1 forbids a DTD in a message (section 3) and qbXML answers carry none."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

# A qbXML answer is about 8 deep (QBXML/QBXMLMsgsRs/CustomerQueryRs/CustomerRet/ContactsRet/...),
# a SOAP call 4; anything far deeper is an attack on the parser, not data.
MAX_DEPTH = 64


class UnreadableXml(ValueError):
    """Not well-formed, or refused as unsafe; the message says which, never echoing the input."""


class _DepthLimitedBuilder(ET.TreeBuilder):
    def __init__(self) -> None:
        super().__init__()
        self.depth = 0

    def start(self, tag: Any, attrs: Any) -> ET.Element:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise UnreadableXml(f"elements nested deeper than {MAX_DEPTH}")
        return super().start(tag, attrs)

    def end(self, tag: Any) -> ET.Element:
        self.depth -= 1
        return super().end(tag)


def parse_xml(data: bytes) -> ET.Element:
    parser = DefusedXMLParser(
        target=_DepthLimitedBuilder(), forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(data)
        root: ET.Element = parser.close()
    except DefusedXmlException as exc:
        raise UnreadableXml(f"refused as unsafe ({type(exc).__name__})") from None
    except UnreadableXml:
        raise
    except (ET.ParseError, ValueError) as exc:
        raise UnreadableXml(f"not well-formed XML ({type(exc).__name__})") from None
    return root
