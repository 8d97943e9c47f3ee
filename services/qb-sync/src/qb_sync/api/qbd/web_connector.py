"""`POST /qbwc`: the SOAP endpoint the Web Connector calls (AppURL of the .qwc), and
`GET /qbwc?wsdl`: its static WSDL. A request that is not SOAP 1.1 (another content type) gets a
415 in the platform's error shape; a SOAP body we cannot read or refuse (not XML, a DTD, another
SOAP version, an unknown operation, a SOAPAction naming another one) gets a SOAP fault with 400,
as a problem with the request's format (WS-I Basic Profile 1.1 R1125); anything that goes wrong
inside gets the operation's protocol error answer with 200, never a 500
(docs/reference/quickbooks-desktop.md#hostile-input)."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request, Response

from platform_kit.http import ApiError
from qb_sync.domain.qbd.soap import BadSoap, SoapCall, parse_call, render_fault, render_result
from qb_sync.usecases.qbd.web_connector import WebConnectorService

log = logging.getLogger("qb_sync.qbd")
router = APIRouter(tags=["quickbooks-desktop"])
XML = "text/xml; charset=utf-8"
WSDL = (resources.files("qb_sync.api.qbd") / "QBWebConnectorSvc.wsdl").read_text()
# What each operation answers when the service itself fails: the Web Connector then shows
# getLastError's text and closes the session, and tries again on its next run.
FALLBACK: dict[str, Any] = {
    "serverVersion": "",
    "clientVersion": "",
    "authenticate": ["", "none"],
    "sendRequestXML": "",
    "receiveResponseXML": -1,
    "getLastError": "qb-sync could not process the call; it is logged, try again later.",
    "connectionError": "done",
    "closeConnection": "OK",
}


@router.get("/qbwc")
async def wsdl(request: Request) -> Response:
    if "wsdl" not in {key.lower() for key in request.query_params}:
        raise ApiError(
            404, "not_found", "the Web Connector endpoint answers POST; its WSDL is at ?wsdl"
        )
    return Response(WSDL, media_type=XML)


@router.get("/qbwc/support")
async def support() -> Response:
    """The .qwc's AppSupport page (same host as AppURL, as the Web Connector requires)."""
    return Response(
        "<html><body><h1>Customer Platform: QuickBooks Desktop</h1><p>The Web Connector talks "
        "to this service. Sync results are shown in the platform.</p></body></html>",
        media_type="text/html",
    )


@router.post("/qbwc")
async def soap(request: Request) -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "text/xml":
        raise ApiError(
            415,
            "unsupported_media_type",
            "the Web Connector endpoint takes SOAP 1.1: Content-Type text/xml",
        )
    try:
        call = parse_call(await request.body(), request.headers.get("soapaction"))
    except BadSoap as exc:
        log.warning("qbd: bad SOAP call: %s", exc)
        return Response(render_fault(str(exc), exc.code), status_code=400, media_type=XML)
    try:
        runtime = request.app.state.runtime
        service = WebConnectorService(runtime.db, getattr(runtime, "settings", None))
        result = await _dispatch(service, call)
    except Exception:
        log.exception("qbd: %s failed", call.operation)
        result = FALLBACK[call.operation]
    return Response(render_result(call.operation, result), media_type=XML)


async def _dispatch(service: WebConnectorService, call: SoapCall) -> Any:
    p = call.params
    ticket = p.get("ticket", "")
    match call.operation:
        case "serverVersion":
            return await service.server_version()
        case "clientVersion":
            return await service.client_version(p.get("strversion", ""))
        case "authenticate":
            return await service.authenticate(p.get("strusername", ""), p.get("strpassword", ""))
        case "sendRequestXML":
            return await service.send_request_xml(
                ticket,
                p.get("strhcpresponse", ""),
                p.get("qbxmlmajorvers", ""),
                p.get("qbxmlminorvers", ""),
            )
        case "receiveResponseXML":
            return await service.receive_response_xml(
                ticket, p.get("response", ""), p.get("hresult", ""), p.get("message", "")
            )
        case "getLastError":
            return await service.get_last_error(ticket)
        case "connectionError":
            return await service.connection_error(
                ticket, p.get("hresult", ""), p.get("message", "")
            )
        case _:
            return await service.close_connection(ticket)
