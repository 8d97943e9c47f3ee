"""Run a service's FastAPI app with uvicorn, JSON logs and the settings' host and port."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from platform_kit.logs import configure_logging
from platform_kit.settings import ServiceSettings


def serve(service: str, app: FastAPI, settings: ServiceSettings) -> None:
    configure_logging(service, settings.log_level)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep our JSON logging
        access_log=False,
        lifespan="on",
    )
