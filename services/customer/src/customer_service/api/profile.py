"""HTTP routes for a customer's contacts, notes (append-only) and attachments."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Response, UploadFile
from pydantic import BaseModel, ConfigDict, StringConstraints

from customer_service.api.schemas import Email, LongText, Phone, Text
from customer_service.domain.attachments import (
    content_disposition,
    content_problem,
    normalised_type,
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
from platform_kit.runtime import ServiceRuntime


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


Filename = Annotated[str, StringConstraints(min_length=1, max_length=255)]


def profile_routes(runtime: ServiceRuntime, attachment_max_bytes: int) -> APIRouter:
    router = APIRouter(prefix="/customers/{customer_id}", tags=["customer profile"])
    reader = Depends(runtime.auth.require("read"))
    writer = Depends(runtime.auth.require("write"))

    async def require_customer(tenant_id: str, customer_id: str) -> None:
        if not await customer_exists(runtime.db, tenant_id, customer_id):
            raise NotFound(f"customer {customer_id} not found")

    # contacts ---------------------------------------------------------------------------------
    @router.get("/contacts", response_model=list[ContactOut])
    async def contacts(customer_id: str, principal: Principal = reader) -> list[dict[str, Any]]:
        await require_customer(principal.tenant_id, customer_id)
        return await list_contacts(runtime.db, principal.tenant_id, customer_id)

    @router.post("/contacts", status_code=201, response_model=ContactOut)
    async def add(
        customer_id: str, body: ContactIn, principal: Principal = writer
    ) -> dict[str, Any]:
        fields = body.model_dump(exclude={"is_primary"})
        [contact] = await add_contact(
            runtime.db, principal.tenant_id, customer_id, fields, body.is_primary
        )
        return contact

    @router.patch("/contacts/{contact_id}", response_model=ContactOut)
    async def edit(
        customer_id: str, contact_id: str, body: ContactPatch, principal: Principal = writer
    ) -> dict[str, Any]:
        fields = body.model_dump(exclude_unset=True, exclude={"is_primary"})
        if "name" in fields and fields["name"] is None:
            raise ValidationFailed([FieldProblem("name", "a contact needs a name", "missing")])
        return await edit_contact(
            runtime.db, principal.tenant_id, customer_id, contact_id, fields, body.is_primary
        )

    @router.delete("/contacts/{contact_id}", status_code=204)
    async def remove(customer_id: str, contact_id: str, principal: Principal = writer) -> Response:
        await remove_contact(runtime.db, principal.tenant_id, customer_id, contact_id)
        return Response(status_code=204)

    # notes (append-only: there is no edit or delete route) ----------------------------------
    @router.get("/notes", response_model=list[NoteOut])
    async def notes(customer_id: str, principal: Principal = reader) -> list[dict[str, Any]]:
        await require_customer(principal.tenant_id, customer_id)
        return await list_notes(runtime.db, principal.tenant_id, customer_id)

    @router.post("/notes", status_code=201, response_model=NoteOut)
    async def add_note(
        customer_id: str, body: NoteIn, principal: Principal = writer
    ) -> dict[str, Any]:
        await require_customer(principal.tenant_id, customer_id)
        return await insert_note(
            runtime.db, principal.tenant_id, customer_id, note_author(principal), body.body
        )

    # attachments ------------------------------------------------------------------------------
    @router.get("/attachments", response_model=list[AttachmentOut])
    async def attachments(customer_id: str, principal: Principal = reader) -> list[dict[str, Any]]:
        await require_customer(principal.tenant_id, customer_id)
        return await list_attachments(runtime.db, principal.tenant_id, customer_id)

    @router.post("/attachments", status_code=201, response_model=AttachmentOut)
    async def upload(
        customer_id: str, file: UploadFile = File(...), principal: Principal = writer
    ) -> dict[str, Any]:
        await require_customer(principal.tenant_id, customer_id)
        content = await file.read(attachment_max_bytes + 1)
        if len(content) > attachment_max_bytes:
            raise PayloadTooLarge(
                f"files are limited to {attachment_max_bytes} bytes",
                limit_bytes=attachment_max_bytes,
            )
        if not content:
            raise ValidationFailed([FieldProblem("file", "the file is empty", "empty")])
        content_type = file.content_type or "application/octet-stream"
        problem = content_problem(content_type, content[:4096])
        if problem:
            raise ValidationFailed([FieldProblem("file", problem, "content_type")])
        filename = (file.filename or "attachment")[:255]
        return await insert_attachment(
            runtime.db,
            principal.tenant_id,
            customer_id,
            filename,
            normalised_type(content_type),
            content,
            hashlib.sha256(content).hexdigest(),
        )

    @router.get("/attachments/{attachment_id}")
    async def download(
        customer_id: str, attachment_id: str, principal: Principal = reader
    ) -> Response:
        row = await load_attachment(runtime.db, principal.tenant_id, customer_id, attachment_id)
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

    return router
