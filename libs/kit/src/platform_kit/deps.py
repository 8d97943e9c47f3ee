"""FastAPI dependencies for module-level routes: the running service's pool and the caller.

A service keeps its `ServiceRuntime` on `app.state.runtime`, so a route module needs no factory
(and tests can run several apps in one process: each request finds its own app's runtime).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request

from platform_kit.auth import BearerToken, Principal
from platform_kit.runtime import ServiceRuntime


def runtime_of(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


# async, though they never wait: FastAPI runs a plain `def` dependency in its thread pool, a
# thread hop per request for what is an attribute read.
async def pool_of(request: Request) -> asyncpg.Pool:
    return runtime_of(request).db


async def settings_of(request: Request) -> Any:
    return request.app.state.settings


def require(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """The caller's Principal, refused (401/403) unless its token has `scope`."""

    async def principal(request: Request, _documented: BearerToken = None) -> Principal:
        return await runtime_of(request).auth.authenticate(request, scope)

    return principal


Db = Annotated[asyncpg.Pool, Depends(pool_of)]
Reader = Annotated[Principal, Depends(require("read"))]
Writer = Annotated[Principal, Depends(require("write"))]
Admin = Annotated[Principal, Depends(require("admin"))]
