"""Run a service's FastAPI app with uvicorn, JSON logs and the settings' host and port."""

from __future__ import annotations

import gc

import uvicorn
from fastapi import FastAPI

from platform_kit.logs import configure_logging
from platform_kit.settings import ServiceSettings


def tune_garbage_collector() -> None:
    """Freeze the start-up objects (FastAPI, pydantic schemas, imports) and collect young objects
    less often. Full collections over them paused the customer service ~40 ms (its create p99 at
    200 req/s); in billing's consumer the default thresholds cost ~30% of the CPU per event, as
    every poll allocates thousands of short-lived objects (bench/billing_ingest.py)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def serve(service: str, app: FastAPI, settings: ServiceSettings) -> None:
    configure_logging(service, settings.log_level)
    tune_garbage_collector()
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # keep our JSON logging
        access_log=False,
        lifespan="on",
        # libuv's event loop: asyncpg's and aiokafka's socket work costs less per call, which is
        # most of a busy consumer's non-handler time (bench/billing_ingest.py).
        loop="uvloop",
        # The C HTTP/1.1 parser: with pure-Python h11 parsing and writing took ~19% of the
        # customer service's CPU at its create limit (bench/customer_api.py).
        http="httptools",
    )
