"""HTTP routes for the tenant's reference lists (read by anyone, replaced by admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from customer_service.domain.errors import FieldProblem, NotFound, ValidationFailed
from customer_service.domain.reference import KINDS
from customer_service.store.reference import (
    ensure_seeded,
    load_reference_lists,
    replace_reference_list,
)
from platform_kit.auth import Principal
from platform_kit.runtime import ServiceRuntime

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ReferenceListOut(BaseModel):
    kind: str
    values: list[str]
    default: str | None


class ReferenceListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    values: list[Code] = Field(min_length=1, max_length=5000)
    default: Code | None = None


def reference_routes(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(prefix="/reference-lists", tags=["reference lists"])

    @router.get("", response_model=list[ReferenceListOut])
    async def read_all(
        principal: Principal = Depends(runtime.auth.require("read")),
    ) -> list[ReferenceListOut]:
        async with runtime.db.acquire() as conn:
            lists = await load_reference_lists(conn, principal.tenant_id)
        return [
            ReferenceListOut(
                kind=kind, values=sorted(lists.get(kind).values), default=lists.get(kind).default
            )
            for kind in KINDS
        ]

    @router.put("/{kind}", response_model=ReferenceListOut)
    async def replace(
        kind: str,
        body: ReferenceListIn,
        principal: Principal = Depends(runtime.auth.require("admin")),
    ) -> ReferenceListOut:
        if kind not in KINDS:
            raise NotFound(f"no reference list {kind!r}; lists: {', '.join(KINDS)}")
        if body.default is not None and body.default not in body.values:
            raise ValidationFailed(
                [FieldProblem("default", "the default must be one of the values")]
            )
        async with runtime.db.acquire() as conn:
            await ensure_seeded(conn, principal.tenant_id)
            async with conn.transaction():
                await replace_reference_list(
                    conn, principal.tenant_id, kind, body.values, body.default
                )
        return ReferenceListOut(kind=kind, values=sorted(set(body.values)), default=body.default)

    return router
