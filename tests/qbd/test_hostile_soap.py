"""Hostile SOAP at qb-sync's Web Connector endpoint, over HTTP against the app on real
PostgreSQL: every attack is refused fast with a 4xx (a SOAP fault when it is SOAP at all), no
entity is expanded, no file or URL is opened, and nothing stored changes (no session opens for
the valid credentials inside the forged envelopes)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from tests.qbd.conftest import Endpoint
from tests.qbd.raw_soap import SOAP, TNS, connection_with_import, envelope, headers

pytestmark = pytest.mark.integration
USER = "hostile-user"


def auth_with(password: str, doctype: str = "") -> bytes:
    """A valid authenticate call whose password is `password` (raw XML), after `doctype`."""
    body = envelope("authenticate", strUserName=USER, strPassword=password)
    return body.replace(b"?><soap:", f"?>{doctype}<soap:".encode(), 1)


class Listener:
    """A TCP port that counts connections: an XML parser that fetched a URL would show here."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    watched = Listener()
    yield watched
    watched.close()


@pytest.fixture
async def stored(db: asyncpg.Pool) -> AsyncIterator[object]:
    """What is stored before the attacks; compared after."""
    await connection_with_import(db, USER)

    async def snapshot() -> tuple[object, ...]:
        return (
            await db.fetch("SELECT * FROM qbd_sessions"),
            await db.fetch("SELECT request_id, status, attempts, last_status FROM qbd_requests"),
            await db.fetch("SELECT * FROM qbd_customers"),
        )

    before = await snapshot()
    yield before
    assert await snapshot() == before
    assert before[0] == []  # not one session was opened by a refused call


def attacks(port: int) -> dict[str, tuple[bytes, dict[str, str]]]:
    soap = headers("authenticate")
    laughs = '<!ENTITY l0 "ha">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    )
    big = "x" * 50_000
    return {
        "xxe file": (
            auth_with("&x;", '<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'),
            soap,
        ),
        "xxe http": (
            auth_with("&x;", f'<!DOCTYPE e [<!ENTITY x SYSTEM "http://127.0.0.1:{port}/x">]>'),
            soap,
        ),
        "external dtd": (
            auth_with("pw", f'<!DOCTYPE e SYSTEM "http://127.0.0.1:{port}/e.dtd">'),
            soap,
        ),
        "parameter entity": (
            auth_with("pw", f'<!DOCTYPE e [<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p">%p;]>'),
            soap,
        ),
        "billion laughs": (auth_with("&l9;", f"<!DOCTYPE e [{laughs}]>"), soap),
        "quadratic blowup": (
            auth_with("&b;" * 10_000, f'<!DOCTYPE e [<!ENTITY b "{big}">]>'),
            soap,
        ),
        "internal dtd": (auth_with("pw", "<!DOCTYPE e>"), soap),
        "deep nesting": (auth_with("<a>" * 100_000 + "pw" + "</a>" * 100_000), soap),
        "nul byte": (auth_with("p\x00w"), soap),
        "nul reference": (auth_with("p&#0;w"), soap),
        "invalid utf-8": (auth_with("pw").replace(b"pw", b"p\xff\xfew"), soap),
        "empty body": (b"", soap),
        "not xml": (b"authenticate hostile-user pw", soap),
        "not an envelope": (b"<authenticate/>", soap),
        "two calls": (
            auth_with("pw").replace(
                b"</soap:Body>", b'<closeConnection xmlns="' + TNS.encode() + b'"/></soap:Body>'
            ),
            soap,
        ),
        "unknown operation": (
            envelope("dropEverything", ticket="x"),
            {**soap, "SOAPAction": f'"{TNS}dropEverything"'},
        ),
        "absent soapaction": (auth_with("pw"), {"Content-Type": "text/xml"}),
        "wrong soapaction": (auth_with("pw"), {**soap, "SOAPAction": f'"{TNS}closeConnection"'}),
    }


async def test_xml_attacks_get_a_soap_fault_fast_with_nothing_resolved_or_stored(
    endpoint: Endpoint, stored: object, listener: Listener
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        for name, (body, sent_headers) in attacks(listener.port).items():
            started = time.monotonic()
            answer = await client.post(endpoint.url, content=body, headers=sent_headers)
            elapsed = time.monotonic() - started
            assert answer.status_code == 400, (name, answer.status_code, answer.text)
            assert answer.headers["content-type"].startswith("text/xml"), name
            assert "<faultcode>soap:Client</faultcode>" in answer.text, (name, answer.text)
            assert f'<soap:Envelope xmlns:soap="{SOAP}">' in answer.text, name
            assert "root:" not in answer.text and "haha" not in answer.text, name
            assert "Traceback" not in answer.text, name
            assert elapsed < 2, (name, elapsed)
    assert listener.accepted == 0  # no URL in any DTD or entity was fetched


async def test_another_soap_version_gets_a_version_mismatch_fault(
    endpoint: Endpoint, stored: object
) -> None:
    soap12 = auth_with("pw").replace(SOAP.encode(), b"http://www.w3.org/2003/05/soap-envelope")
    async with httpx.AsyncClient() as client:
        answer = await client.post(endpoint.url, content=soap12, headers=headers("authenticate"))
    assert answer.status_code == 400
    assert "<faultcode>soap:VersionMismatch</faultcode>" in answer.text


async def test_a_request_that_is_not_soap_gets_415_in_the_platform_shape(
    endpoint: Endpoint, stored: object
) -> None:
    async with httpx.AsyncClient() as client:
        for content_type, body in (
            ("application/json", b'{"strUserName": "hostile-user", "strPassword": "pw"}'),
            ("application/soap+xml", auth_with("pw")),  # SOAP 1.2's media type
            ("text/plain", auth_with("pw")),
        ):
            answer = await client.post(
                endpoint.url, content=body, headers={"Content-Type": content_type}
            )
            assert answer.status_code == 415, (content_type, answer.text)
            assert answer.json()["error"]["code"] == "unsupported_media_type"


async def test_huge_bodies_are_refused_by_the_body_limit_declared_or_chunked(
    endpoint: Endpoint, stored: object
) -> None:
    huge = auth_with("p" * 2_000_000)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(huge), 64_000):
            yield huge[start : start + 64_000]

    async with httpx.AsyncClient() as client:
        declared = await client.post(endpoint.url, content=huge, headers=headers("authenticate"))
        chunked = await client.post(endpoint.url, content=chunks(), headers=headers("authenticate"))
    for answer in (declared, chunked):
        assert answer.status_code == 413, answer.text
        assert answer.json()["error"]["code"] == "payload_too_large"
