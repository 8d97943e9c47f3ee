"""FastAPI application: OAuth, the v3 API and the admin API over one Emulator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException

from qbo_emulator import admin, api, control, oauth, pipeline
from qbo_emulator.emulator import Emulator
from qbo_emulator.settings import Settings

SNAPSHOT_INTERVAL = 0.5


class _HideDroppedResponses(logging.Filter):
    """The injected 'response lost' fault is deliberate; keep its traceback out of the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, ConnectionAbortedError) and str(exc) == pipeline.DROP_MARKER)


def create_app(
    settings: Settings | None = None, snapshot: Path | None = None, emulator: Emulator | None = None
) -> FastAPI:
    emu = emulator or Emulator(settings, snapshot)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        logging.getLogger("uvicorn.error").addFilter(_HideDroppedResponses())

        async def autosave() -> None:
            while True:
                await asyncio.sleep(SNAPSHOT_INTERVAL)
                emu.save()

        task = asyncio.create_task(autosave()) if emu.snapshot is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            emu.save()
            emu.notifier.stop()

    app = FastAPI(title="QuickBooks Online emulator", lifespan=lifespan)
    app.state.emulator = emu

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(oauth.router)
    app.include_router(admin.router)
    app.include_router(api.router)
    app.add_exception_handler(control.AdminError, admin.admin_error)
    app.add_exception_handler(StarletteHTTPException, pipeline.unknown_route)
    return app
