"""Reading a .qwc file (the Web Connector's application file) for the simulated Web Connector."""

from __future__ import annotations

from defusedxml.ElementTree import fromstring

from qbd_simulator.connector import Qwc


def read_qwc(text: str) -> Qwc:
    root = fromstring(text.encode("utf-8"))
    if root.tag != "QBWCXML":
        raise ValueError("not a .qwc file: the root is not QBWCXML")

    def need(tag: str) -> str:
        value = root.findtext(tag)
        if not value:
            raise ValueError(f".qwc without {tag}")
        return value.strip()

    return Qwc(need("AppURL"), need("UserName"), need("OwnerID"), need("FileID"))
