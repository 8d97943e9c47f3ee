"""A service's app served by uvicorn on a free local port, in a thread with its own event loop,
for tools that speak HTTP (schemathesis) rather than ASGI."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from tests.support.ports import free_port


@contextmanager
def serving(app: FastAPI, *, timeout: float = 60.0) -> Iterator[str]:
    """Yields the base URL once /healthz answers; stops the server (and its lifespan) after."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn:{port}", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"{app.title} did not start on {base}")
        time.sleep(0.2)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def run_on_the_side(make: Callable[[], Awaitable[Any]]) -> Any:
    """Run one coroutine to completion on a fresh loop (setup work from a sync fixture)."""
    return asyncio.run(make())  # type: ignore[arg-type]
