"""Shared by the qb-sync tests (push/ and pull/): waiting for an asynchronous outcome.

Each side keeps its own app and emulator fixtures in its own conftest (push/conftest.py,
pull/conftest.py) since they need different settings (limits, faults, tick rates)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def wait_for(
    probe: Callable[[], Awaitable[Any]], timeout: float = 30, interval: float = 0.1
) -> Any:
    """Poll `probe` until it returns something truthy; fail with its last answer on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)
