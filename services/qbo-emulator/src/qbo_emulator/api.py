"""The `/v3/company/{realm}` API: auth, throttling, fault injection and requestid replay around
the name-list operations, answered with QuickBooks' envelopes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.types import Receive, Scope, Send

from qbo_emulator import batch, cdc, faults, injection
from qbo_emulator.emulator import Emulator
from qbo_emulator.store import Realm

MAX_REQUESTID = 50
ENTITY_PATHS = {"customer": "Customer", "vendor": "Vendor", "employee": "Employee"}

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


DROP_MARKER = "qbo-emulator dropped the response after commit (injected fault)"


def tid_header() -> dict[str, str]:
    """QuickBooks tags every answer, faults and throttling included, with a transaction id."""
    return {"intuit_tid": str(uuid.uuid4())}


def build_router(emu: Emulator) -> APIRouter:
    router = APIRouter()

    def envelope(payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "time": emu.clock.response_time()}

    def json_response(status: int, payload: Any, text: str | None = None) -> Response:
        body = text if text is not None else json.dumps(payload)
        return Response(
            body, status_code=status, media_type="application/json", headers=tid_header()
        )

    async def handle(
        request: Request, realm_id: str, op: Operation, *, write: bool, is_batch: bool = False
    ) -> Response:
        params = dict(request.query_params)
        entry: dict[str, Any] = {
            "at": time.time(),
            "method": request.method,
            "path": request.url.path,
            "realm": realm_id,
            "params": params,
            "requestid": params.get("requestid"),
        }
        response = await pipeline(
            request, realm_id, op, params, entry, write=write, is_batch=is_batch
        )
        entry["status"] = response.status_code
        emu.store.log(entry)
        emu.store.counters[f"status_{response.status_code}"] += 1
        emu.store.counters[f"requests:{realm_id}"] += 1
        return response

    async def pipeline(
        request: Request,
        realm_id: str,
        op: Operation,
        params: dict[str, str],
        entry: dict[str, Any],
        *,
        write: bool,
        is_batch: bool,
    ) -> Response:
        # 1. Authentication: 401 with the lower-case fault body, whatever the realm.
        if (refused := authenticate(request, realm_id)) is not None:
            return refused
        realm = emu.store.realms[realm_id]
        # 2. Throttling, before anything else can happen: a 429 has no side effects.
        if (limit := emu.throttle.admit(realm_id, is_batch)) is not None:
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
        try:
            return await admitted(request, realm, op, params, entry, write=write, is_batch=is_batch)
        finally:
            emu.throttle.release(realm_id)

    def authenticate(request: Request, realm_id: str) -> Response | None:
        """None when the bearer token may use the realm (which then exists), else the refusal:
        401 for a missing, unknown, expired or revoked token, 403 for another realm's token.
        Only permissive realms (and auto_create_realms) accept tokens the emulator never
        issued."""
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        token_realm, reason = emu.tokens.check(token)
        realm = emu.store.realms.get(realm_id)
        if token_realm is not None:
            if realm is None or token_realm != realm_id:
                return json_response(403, faults.forbidden_body())
            return None
        foreign = bool(token) and not emu.tokens.issued(token)
        if foreign and realm is None and emu.settings.auto_create_realms:
            emu.ensure_realm(realm_id, permissive=True)
            return None
        if foreign and realm is not None and not realm.require_tokens:
            return None
        return json_response(401, faults.auth_failed_body(reason))

    async def admitted(
        request: Request,
        realm: Realm,
        op: Operation,
        params: dict[str, str],
        entry: dict[str, Any],
        *,
        write: bool,
        is_batch: bool,
    ) -> Response:
        sub_path = request.url.path.split(f"/company/{realm.realm_id}", 1)[-1]
        if emu.settings.service_time_ms > 0:
            # Held while counted in flight, so concurrent callers really overlap.
            await asyncio.sleep(emu.settings.service_time_ms / 1000)
        latency = emu.faults.take(realm.realm_id, request.method, sub_path, injection.LATENCY)
        if latency is not None:
            entry["latency"] = latency.seconds
            await asyncio.sleep(latency.seconds)
        before = emu.faults.take(realm.realm_id, request.method, sub_path, injection.BEFORE)
        if before is not None:
            entry["fault"] = before.kind
            await asyncio.sleep(before.seconds)
            if before.kind == "error":
                text, media = injection.error_body(before.status, before.body)
                return Response(
                    text, status_code=before.status, media_type=media, headers=tid_header()
                )
            if before.kind == "timeout":
                return Response(
                    "<html><body><h1>504 Gateway Time-out</h1></body></html>",
                    status_code=504,
                    media_type="text/html",
                    headers=tid_header(),
                )
        raw = await request.body()
        request_id = params.get("requestid") if write else None
        if request_id is not None:
            limit = batch.MAX_BATCH_REQUESTID if is_batch else MAX_REQUESTID
            if len(request_id) > limit:
                fault = faults.business(
                    f"You cannot enter more than {limit} characters in the request_id field. "
                    f"The request_id field is {len(request_id)} characters."
                )
                return json_response(fault.status, envelope({"Fault": fault.body()}))
            stored = realm.replies.get(request_id)
            ttl = emu.settings.requestid_ttl_seconds
            if stored is not None and ttl is not None and emu.clock.epoch() - stored["at"] > ttl:
                stored = None  # retention window passed: the id is new again
            if stored is not None:
                # Replay: the first answer, byte for byte, and no state change.
                emu.store.counters["replays"] += 1
                if stored["fingerprint"] != hashlib.sha256(raw).hexdigest():
                    emu.store.counters["requestid_body_mismatch"] += 1
                entry["replay"] = True
                return json_response(stored["status"], None, text=stored["body"])
        status, payload = run_operation(realm, op, raw, params)
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
        return json_response(status, None, text=text)

    def run_operation(
        realm: Realm, op: Operation, raw: bytes, params: dict[str, str]
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
            return 200, envelope(op(realm, body, params))
        except faults.QBOFault as fault:
            return fault.status, envelope({"Fault": fault.body()})

    def parse_json(body: str) -> Any:
        try:
            return json.loads(body)
        except json.JSONDecodeError as exc:
            raise faults.QBOFault(
                2010, "Request has invalid or unsupported property", f"Unparseable JSON: {exc}"
            ) from exc

    # -- routes ------------------------------------------------------------------------------
    @router.post("/v3/company/{realm_id}/{entity}")
    async def write_entity(request: Request, realm_id: str, entity: str) -> Response:
        kind = ENTITY_PATHS.get(entity.lower())

        def op(realm: Realm, body: str, params: dict[str, str]) -> dict[str, Any]:
            if entity == "query":
                return {"QueryResponse": emu.run_query(realm, body)}
            if entity == "batch":
                payload = parse_json(body)
                return batch.run(realm, payload, params.get("requestid"), emu.write, emu.run_query)
            if kind is None:
                raise faults.unsupported(f"Entity {entity} is not emulated.")
            operation = params.get("operation", "").lower()
            return {kind: emu.write(realm, kind, operation, parse_json(body))}

        is_write = entity != "query"
        return await handle(request, realm_id, op, write=is_write, is_batch=entity == "batch")

    @router.get("/v3/company/{realm_id}/query")
    async def query_get(request: Request, realm_id: str) -> Response:
        def op(realm: Realm, body: str, params: dict[str, str]) -> dict[str, Any]:
            return {"QueryResponse": emu.run_query(realm, params.get("query", ""))}

        return await handle(request, realm_id, op, write=False)

    @router.get("/v3/company/{realm_id}/cdc")
    async def cdc_get(request: Request, realm_id: str) -> Response:
        def op(realm: Realm, body: str, params: dict[str, str]) -> dict[str, Any]:
            return cdc.changes(
                emu.lists,
                emu.settings,
                emu.clock,
                realm,
                params.get("entities"),
                params.get("changedSince"),
            )

        return await handle(request, realm_id, op, write=False)

    @router.get("/v3/company/{realm_id}/{entity}/{entity_id}")
    async def read_entity(request: Request, realm_id: str, entity: str, entity_id: str) -> Response:
        def op(realm: Realm, body: str, params: dict[str, str]) -> dict[str, Any]:
            kind = ENTITY_PATHS.get(entity.lower())
            if kind is None:
                raise faults.unsupported(f"Entity {entity} is not emulated.")
            return {kind: emu.lists.get(realm, kind, entity_id)}

        return await handle(request, realm_id, op, write=False)

    return router
