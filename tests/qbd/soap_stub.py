"""A scripted SOAP service for testing the simulated Web Connector on its own: each operation's
answer comes from a function the test gives; every call is recorded as the service saw it."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from defusedxml.ElementTree import fromstring

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "http://developer.intuit.com/"
Script = dict[str, Callable[[dict[str, str]], Any]]


def envelope(method: str, result: Any) -> bytes:
    root = ET.Element(f"{{{SOAP}}}Envelope")
    body = ET.SubElement(root, f"{{{SOAP}}}Body")
    response = ET.SubElement(body, f"{{{TNS}}}{method}Response")
    out = ET.SubElement(response, f"{{{TNS}}}{method}Result")
    if isinstance(result, list):
        for item in result:
            ET.SubElement(out, f"{{{TNS}}}string").text = item
    else:
        out.text = str(result)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


@contextmanager
def scripted_service(script: Script) -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    seen: list[tuple[str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            call = fromstring(body).find(f"{{{SOAP}}}Body")[0]  # type: ignore[index]
            method = call.tag.split("}")[1]
            params = {child.tag.split("}")[1]: child.text or "" for child in call}
            assert self.headers["SOAPAction"].strip('"') == TNS + method
            seen.append((method, params))
            payload = envelope(method, script[method](params))
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/qbwc", seen
    finally:
        server.shutdown()
        server.server_close()
