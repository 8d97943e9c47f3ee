"""HTTP routes for the tenant's reference lists (read by anyone, replaced by admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from customer_service.api.schemas import nfc
from customer_service.domain.errors import NotFound
from customer_service.domain.reference import KINDS, check_reference_list
from customer_service.store.reference import (
    ensure_seeded,
    load_reference_lists,
    replace_reference_list,
)
from platform_kit.deps import Admin, Db, Reader

Code = Annotated[
    str, AfterValidator(nfc), StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]


class ReferenceListOut(BaseModel):
    kind: str
    values: list[str]
    default: str | None


class ReferenceListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    values: list[Code] = Field(min_length=1, max_length=5000)
    default: Code | None = None


router = APIRouter(prefix="/reference-lists", tags=["reference lists"])


@router.get("", response_model=list[ReferenceListOut])
async def read_all(db: Db, who: Reader) -> list[ReferenceListOut]:
    async with db.acquire() as conn:
        lists = await load_reference_lists(conn, who.tenant_id)
    return [
        ReferenceListOut(
            kind=kind, values=sorted(lists.get(kind).values), default=lists.get(kind).default
        )
        for kind in KINDS
    ]


@router.put("/{kind}", response_model=ReferenceListOut)
async def replace(kind: str, body: ReferenceListIn, db: Db, who: Admin) -> ReferenceListOut:
    if kind not in KINDS:
        raise NotFound(f"no reference list {kind!r}; lists: {', '.join(KINDS)}")
    check_reference_list(kind, body.values, body.default)
    async with db.acquire() as conn:
        await ensure_seeded(conn, who.tenant_id)
        async with conn.transaction():
            await replace_reference_list(conn, who.tenant_id, kind, body.values, body.default)
    return ReferenceListOut(kind=kind, values=sorted(set(body.values)), default=body.default)
