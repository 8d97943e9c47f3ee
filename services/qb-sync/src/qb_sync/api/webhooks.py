"""`POST /quickbooks/webhooks`: Intuit's notifications, checked and queued, answered fast (the
work: usecases/receive_webhook.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from qb_sync.api.deps import WebhookIntakeDep

router = APIRouter(tags=["quickbooks webhooks"])


@router.post(
    "/quickbooks/webhooks", responses={401: {"description": "intuit-signature does not match"}}
)
async def receive_webhook(request: Request, intake: WebhookIntakeDep) -> dict[str, Any]:
    body = await request.body()  # the raw bytes: the signature covers them exactly
    receipt = await intake.receive(body, request.headers.get("intuit-signature"))
    answer: dict[str, Any] = {"queued": receipt.queued, "ignored": receipt.ignored}
    if receipt.refused is not None:
        answer["refused"] = receipt.refused
    return answer
