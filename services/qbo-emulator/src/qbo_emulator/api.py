"""The `/v3/company/{realm}` routes: each hands its operation to the shared pipeline (auth,
throttling, fault injection, requestid replay, QuickBooks' envelopes)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from qbo_emulator import operations, pipeline
from qbo_emulator.deps import EmulatorDep

router = APIRouter()


@router.post("/v3/company/{realm_id}/{entity}")
async def post_entity(request: Request, realm_id: str, entity: str, emu: EmulatorDep) -> Response:
    """Create or update (Customer, Vendor, Employee), POST /query and POST /batch."""
    op = operations.post(emu, entity, request.url.path, str(request.url))
    is_write = entity != "query"
    return await pipeline.handle(
        emu, request, realm_id, op, write=is_write, is_batch=entity == "batch"
    )


@router.get("/v3/company/{realm_id}/query")
async def get_query(request: Request, realm_id: str, emu: EmulatorDep) -> Response:
    return await pipeline.handle(emu, request, realm_id, operations.query(emu), write=False)


@router.get("/v3/company/{realm_id}/cdc")
async def get_cdc(request: Request, realm_id: str, emu: EmulatorDep) -> Response:
    return await pipeline.handle(emu, request, realm_id, operations.changes(emu), write=False)


@router.get("/v3/company/{realm_id}/{entity}/{entity_id}")
async def get_entity(
    request: Request, realm_id: str, entity: str, entity_id: str, emu: EmulatorDep
) -> Response:
    op = operations.read(emu, entity, entity_id, request.url.path, str(request.url))
    return await pipeline.handle(emu, request, realm_id, op, write=False)
