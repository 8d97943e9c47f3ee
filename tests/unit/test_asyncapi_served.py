"""Every service serves the AsyncAPI document and its HTML view (nothing is started: the routes
need neither the database nor Kafka)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from billing_service.app import create_app as billing_app
from customer_service.app import create_app as customer_app
from platform_events.asyncapi import asyncapi_document
from platform_events.topics import TOPICS
from qb_sync.app import create_app as qb_sync_app


@pytest.mark.parametrize("make", [billing_app, customer_app, qb_sync_app])
async def test_each_service_serves_the_document_and_its_html_view(make) -> None:  # type: ignore[no-untyped-def]
    app: FastAPI = make()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        document = await client.get("/asyncapi.json")
        page = await client.get("/asyncapi")
    assert document.status_code == 200 and document.json() == asyncapi_document()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for topic in TOPICS:
        assert topic.name in page.text and topic.dlq in page.text
