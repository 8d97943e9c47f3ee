"""HTTP routes for a customer's contacts, notes (append-only) and attachments."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, File, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from customer_service.api.schemas import Email, LongText, Phone, Text
from customer_service.domain.attachments import (
    content_disposition,
    content_problem,
    normalised_type,
    safe_filename,
)
from customer_service.domain.errors import (
    FieldProblem,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from customer_service.handlers.contacts import add_contact, edit_contact, remove_contact
from customer_service.store.profile import (
    customer_exists,
    insert_attachment,
    insert_note,
    list_attachments,
    list_contacts,
    list_notes,
    load_attachment,
)
from platform_kit.auth import Principal
from platform_kit.deps import Db, Reader, Writer


class ContactFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Text | None = None
    email: Email | None = None
    phone: Phone | None = None
    mobile: Phone | None = None
    fax: Phone | None = None
    notes: LongText | None = None


class ContactIn(ContactFields):
    name: Text
    is_primary: bool = False


class ContactPatch(ContactFields):
    name: Text | None = None
    is_primary: bool | None = None


class ContactOut(BaseModel):
    contact_id: str
    name: str
    title: str | None
    email: str | None
    phone: str | None
    mobile: str | None
    fax: str | None
    notes: str | None
    role: str | None = Field(default=None, description="billing: imported from QuickBooks")
    address: dict[str, Any] | None = None
    is_primary: bool
    created_at: datetime


class NoteIn(BaseModel):
    """The author is the caller's token, never a field a client could fill with anyone's name."""

    model_config = ConfigDict(extra="forbid")

    body: LongText


class NoteOut(BaseModel):
    note_id: str
    author: str
    body: str
    created_at: datetime


class AttachmentOut(BaseModel):
    attachment_id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: datetime


def note_author(principal: Principal) -> str:
    return principal.name or "unnamed token"


router = APIRouter(prefix="/customers/{customer_id}", tags=["customer profile"])


async def require_customer(db: asyncpg.Pool, tenant_id: str, customer_id: str) -> None:
    if not await customer_exists(db, tenant_id, customer_id):
        raise NotFound(f"customer {customer_id} not found")


# contacts -------------------------------------------------------------------------------------
@router.get("/contacts", response_model=list[ContactOut])
async def contacts(customer_id: str, db: Db, who: Reader) -> list[dict[str, Any]]:
    await require_customer(db, who.tenant_id, customer_id)
    return await list_contacts(db, who.tenant_id, customer_id)


@router.post("/contacts", status_code=201, response_model=ContactOut)
async def add(customer_id: str, body: ContactIn, db: Db, who: Writer) -> dict[str, Any]:
    fields = body.model_dump(exclude={"is_primary"})
    [contact] = await add_contact(db, who.tenant_id, customer_id, fields, body.is_primary)
    return contact


@router.patch("/contacts/{contact_id}", response_model=ContactOut)
async def edit(
    customer_id: str, contact_id: str, body: ContactPatch, db: Db, who: Writer
) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True, exclude={"is_primary"})
    if "name" in fields and fields["name"] is None:
        raise ValidationFailed([FieldProblem("name", "a contact needs a name", "missing")])
    return await edit_contact(db, who.tenant_id, customer_id, contact_id, fields, body.is_primary)


@router.delete("/contacts/{contact_id}", status_code=204)
async def remove(customer_id: str, contact_id: str, db: Db, who: Writer) -> Response:
    await remove_contact(db, who.tenant_id, customer_id, contact_id)
    return Response(status_code=204)


# notes (append-only: there is no edit or delete route) --------------------------------------
@router.get("/notes", response_model=list[NoteOut])
async def notes(customer_id: str, db: Db, who: Reader) -> list[dict[str, Any]]:
    await require_customer(db, who.tenant_id, customer_id)
    return await list_notes(db, who.tenant_id, customer_id)


@router.post("/notes", status_code=201, response_model=NoteOut)
async def add_note(customer_id: str, body: NoteIn, db: Db, who: Writer) -> dict[str, Any]:
    await require_customer(db, who.tenant_id, customer_id)
    return await insert_note(db, who.tenant_id, customer_id, note_author(who), body.body)


# attachments ----------------------------------------------------------------------------------
@router.get("/attachments", response_model=list[AttachmentOut])
async def attachments(customer_id: str, db: Db, who: Reader) -> list[dict[str, Any]]:
    await require_customer(db, who.tenant_id, customer_id)
    return await list_attachments(db, who.tenant_id, customer_id)


@router.post("/attachments", status_code=201, response_model=AttachmentOut)
async def upload(
    customer_id: str, request: Request, db: Db, who: Writer, file: UploadFile = File(...)
) -> dict[str, Any]:
    await require_customer(db, who.tenant_id, customer_id)
    return await store_upload(db, who.tenant_id, customer_id, file, max_attachment_bytes(request))


@router.get(
    "/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string"}}}}},
)
async def download(customer_id: str, attachment_id: str, db: Db, who: Reader) -> Response:
    row = await load_attachment(db, who.tenant_id, customer_id, attachment_id)
    if row is None:
        raise NotFound(f"attachment {attachment_id} not found")
    return Response(
        content=bytes(row["content"]),
        media_type=row["content_type"],
        headers={
            "Content-Disposition": content_disposition(row["filename"]),
            "X-Content-Type-Options": "nosniff",
            "ETag": f'"{row["sha256"]}"',
        },
    )


def max_attachment_bytes(request: Request) -> int:
    limit: int = request.app.state.settings.attachment_max_bytes
    return limit


async def store_upload(
    db: asyncpg.Pool, tenant_id: str, customer_id: str, file: UploadFile, limit: int
) -> dict[str, Any]:
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(f"files are limited to {limit} bytes", limit_bytes=limit)
    if not content:
        raise ValidationFailed([FieldProblem("file", "the file is empty", "empty")])
    content_type = file.content_type or "application/octet-stream"
    problem = content_problem(content_type, content[:4096])
    if problem:
        raise ValidationFailed([FieldProblem("file", problem, "content_type")])
    return await insert_attachment(
        db,
        tenant_id,
        customer_id,
        safe_filename(file.filename),
        normalised_type(content_type),
        content,
        hashlib.sha256(content).hexdigest(),
    )
