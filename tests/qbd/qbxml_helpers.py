"""Building qbXML request message sets and reading responses in the tests."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def message_set(*requests: str, version: str = "13.0", on_error: str = "stopOnError") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="{version}"?>\n'
        f'<QBXML><QBXMLMsgsRq onError="{on_error}">{"".join(requests)}</QBXMLMsgsRq></QBXML>'
    )


def responses(text: str) -> list[ET.Element]:
    root = ET.fromstring(text.encode("utf-8"))
    msgs = root.find("QBXMLMsgsRs")
    assert msgs is not None
    return list(msgs)


def customer_add(
    name: str, request_id: str = "1", inner: str = "", parent: str | None = None
) -> str:
    parent_ref = f"<ParentRef><FullName>{parent}</FullName></ParentRef>" if parent else ""
    return (
        f'<CustomerAddRq requestID="{request_id}"><CustomerAdd><Name>{name}</Name>'
        f"{parent_ref}{inner}</CustomerAdd></CustomerAddRq>"
    )
