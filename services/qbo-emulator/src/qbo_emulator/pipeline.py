"""What every `/v3/company/{realm}` call goes through, in QuickBooks' order: body size, auth,
throttling, injected faults, requestid replay, the operation, then the answer (or its loss)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from qbo_emulator import batch, faults, injection
from qbo_emulator.emulator import Emulator
from qbo_emulator.store import Realm
from qbo_emulator.wire import json_answer, tid_header

MAX_REQUESTID = 50
DROP_MARKER = "qbo-emulator dropped the response after commit (injected fault)"

# An operation gets the realm, the raw body text and the query parameters.
Operation = Callable[[Realm, str, dict[str, str]], dict[str, Any]]


class DroppedResponse(Response):
    """Sends the headers and half the body, then cuts the connection: the response is lost."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send(
            {
                "type": "http.response.body",
                "body": self.body[: len(self.body) // 2],
                "more_body": True,
            }
        )
        raise ConnectionAbortedError(DROP_MARKER)


@dataclass(frozen=True)
class _Call:
    """One /v3 call on its way through the stages below."""

    emu: Emulator
    request: Request
    op: Operation
    params: dict[str, str]
    entry: dict[str, Any]  # its request-log entry, filled in as it goes
    write: bool
    is_batch: bool


async def handle(
    emu: Emulator,
    request: Request,
    realm_id: str,
    op: Operation,
    *,
    write: bool,
    is_batch: bool = False,
) -> Response:
    """Run one /v3 call and record it in the request log and the counters."""
    params = dict(request.query_params)
    entry: dict[str, Any] = {
        "at": time.time(),
        "method": request.method,
        "path": request.url.path,
        "realm": realm_id,
        "params": params,
        "requestid": params.get("requestid"),
    }
    call = _Call(emu, request, op, params, entry, write, is_batch)
    response = await _gated(call, realm_id)
    entry["status"] = response.status_code
    emu.store.log(entry)
    emu.store.counters[f"status_{response.status_code}"] += 1
    emu.store.counters[f"requests:{realm_id}"] += 1
    return response


async def _gated(call: _Call, realm_id: str) -> Response:
    emu, entry = call.emu, call.entry
    raw = await call.request.body()
    # 0. An over-large body is refused by Intuit's front end with its web server's HTML page,
    # naming the path (the page quoted in ruckus/quickbooks-ruby#361).
    if len(raw) > emu.settings.max_body_bytes:
        entry["refused"] = "body_too_large"
        return Response(
            '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
            "<title>413 Request Entity Too Large</title>\n</head><body>\n"
            "<h1>Request Entity Too Large</h1>\n"
            f"The requested resource<br />{call.request.url.path}<br />\n"
            "does not allow request data with POST requests, or the amount of data provided "
            "in\nthe request exceeds the capacity limit.\n</body></html>\n",
            status_code=413,
            media_type="text/html",
            headers=tid_header(),
        )
    # 1. Authentication: 401 with the lower-case fault body, whatever the realm.
    if (refused := authenticate(emu, call.request, realm_id)) is not None:
        return refused
    realm = emu.store.realms[realm_id]
    # 2. Throttling, before anything else can happen: a 429 has no side effects.
    if (limit := emu.throttle.admit(realm_id, call.is_batch)) is not None:
        return _throttled(emu, realm_id, limit, entry)
    try:
        return await _admitted(call, realm, raw)
    finally:
        emu.throttle.release(realm_id)


def _throttled(emu: Emulator, realm_id: str, limit: str, entry: dict[str, Any]) -> Response:
    emu.store.counters["throttled"] += 1
    emu.store.counters[f"throttled:{realm_id}"] += 1
    emu.store.counters[f"throttled:{realm_id}:{limit}"] += 1
    entry["throttled"] = limit
    headers = tid_header()
    if emu.settings.retry_after_seconds is not None:
        headers["Retry-After"] = str(emu.settings.retry_after_seconds)
    return Response(
        faults.throttle_xml(emu.clock.response_time()),
        status_code=429,
        media_type="application/xml",
        headers=headers,
    )


def authenticate(emu: Emulator, request: Request, realm_id: str) -> Response | None:
    """None when the bearer token may use the realm (which then exists), else the refusal:
    401 for a missing, unknown, expired or revoked token, 403 for another realm's token.
    Only permissive realms (and auto_create_realms) accept tokens the emulator never issued."""
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    token_realm, reason = emu.tokens.check(token)
    realm = emu.store.realms.get(realm_id)
    if token_realm is not None:
        if realm is None or token_realm != realm_id:
            return json_answer(403, faults.forbidden_body())
        return None
    foreign = bool(token) and not emu.tokens.issued(token)
    if foreign and realm is None and emu.settings.auto_create_realms:
        emu.ensure_realm(realm_id, permissive=True)
        return None
    if foreign and realm is not None and not realm.require_tokens:
        return None
    return json_answer(401, faults.auth_failed_body(reason))


async def _admitted(call: _Call, realm: Realm, raw: bytes) -> Response:
    emu, request, entry, write = call.emu, call.request, call.entry, call.write
    sub_path = request.url.path.split(f"/company/{realm.realm_id}", 1)[-1]
    if emu.settings.service_time_ms > 0:
        # Held while counted in flight, so concurrent callers really overlap.
        await asyncio.sleep(emu.settings.service_time_ms / 1000)
    if (injected := await _before(emu, realm, request.method, sub_path, entry)) is not None:
        return injected
    request_id = call.params.get("requestid") if write else None
    if request_id is not None:
        if (
            early := _replay_or_refuse(emu, realm, request_id, raw, entry, call.is_batch)
        ) is not None:
            return early
    status, payload = run_operation(emu, realm, call.op, raw, call.params)
    text = json.dumps(payload)
    if request_id is not None and status < 500:
        realm.replies[request_id] = {
            "status": status,
            "body": text,
            "at": emu.clock.epoch(),
            "fingerprint": hashlib.sha256(raw).hexdigest(),
        }
        emu.dirty = True
    after = (
        emu.faults.take(realm.realm_id, request.method, sub_path, injection.AFTER)
        if write
        else None
    )
    if after is not None:
        entry["fault"] = after.kind
        if after.kind == "drop_after_commit":
            return DroppedResponse(
                text, status_code=status, media_type="application/json", headers=tid_header()
            )
        await asyncio.sleep(after.seconds)
    return json_answer(status, text=text)


async def _before(
    emu: Emulator, realm: Realm, method: str, sub_path: str, entry: dict[str, Any]
) -> Response | None:
    """Injected latency, then an injected error or gateway timeout (nothing is applied)."""
    latency = emu.faults.take(realm.realm_id, method, sub_path, injection.LATENCY)
    if latency is not None:
        entry["latency"] = latency.seconds
        await asyncio.sleep(latency.seconds)
    before = emu.faults.take(realm.realm_id, method, sub_path, injection.BEFORE)
    if before is None:
        return None
    entry["fault"] = before.kind
    await asyncio.sleep(before.seconds)
    if before.kind == "error":
        text, media = injection.error_body(before.status, before.body)
        return Response(text, status_code=before.status, media_type=media, headers=tid_header())
    return Response(
        "<html><body><h1>504 Gateway Time-out</h1></body></html>",
        status_code=504,
        media_type="text/html",
        headers=tid_header(),
    )


def _replay_or_refuse(
    emu: Emulator,
    realm: Realm,
    request_id: str,
    raw: bytes,
    entry: dict[str, Any],
    is_batch: bool,
) -> Response | None:
    """A too-long requestid is refused; a known one gets its first answer, byte for byte."""
    limit = batch.MAX_BATCH_REQUESTID if is_batch else MAX_REQUESTID
    if len(request_id) > limit:
        fault = faults.business(
            f"You cannot enter more than {limit} characters in the request_id field. "
            f"The request_id field is {len(request_id)} characters."
        )
        return json_answer(fault.status, envelope(emu, {"Fault": fault.body()}))
    stored = realm.replies.get(request_id)
    ttl = emu.settings.requestid_ttl_seconds
    if stored is not None and ttl is not None and emu.clock.epoch() - stored["at"] > ttl:
        stored = None  # retention window passed: the id is new again
    if stored is None:
        return None
    emu.store.counters["replays"] += 1
    if stored["fingerprint"] != hashlib.sha256(raw).hexdigest():
        emu.store.counters["requestid_body_mismatch"] += 1
    entry["replay"] = True
    return json_answer(stored["status"], text=stored["body"])


def envelope(emu: Emulator, payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "time": emu.clock.response_time()}


def run_operation(
    emu: Emulator, realm: Realm, op: Operation, raw: bytes, params: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    try:
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise faults.unsupported(
                "Unsupported Operation: com.ctc.wstx.exc.WstxIOException: Invalid UTF-8 "
                "(MalformedByteSequenceException)",
                status=500,
            ) from exc
        return 200, envelope(emu, op(realm, body, params))
    except faults.QBOFault as fault:
        return fault.status, envelope(emu, {"Fault": fault.body()})


async def unknown_route(request: Request, exc: Exception) -> Response:
    """Paths and methods under /v3 that nothing serves answer as QuickBooks does (a Fault), not
    with FastAPI's `{"detail": ...}`; other paths keep FastAPI's answer."""
    assert isinstance(exc, StarletteHTTPException)
    if not request.url.path.startswith("/v3/") or exc.status_code not in (404, 405):
        return await http_exception_handler(request, exc)
    emu: Emulator = request.app.state.emulator
    fault = faults.unknown_resource(request.method, request.url.path, str(request.url))
    return json_answer(fault.status, envelope(emu, {"Fault": fault.body()}))
