"""`POST /quickbooks/webhooks`: Intuit's notifications, checked and queued, answered fast (the
work: usecases/receive_webhook.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from qb_sync.api.deps import WebhookIntakeDep

router = APIRouter(tags=["quickbooks webhooks"])


@router.post("/quickbooks/webhooks")
async def receive_webhook(request: Request, intake: WebhookIntakeDep) -> dict[str, Any]:
    body = await request.body()  # the raw bytes: the signature covers them exactly
    queued, ignored = await intake.receive(body, request.headers.get("intuit-signature"))
    return {"queued": queued, "ignored": ignored}
