"""What route handlers get through `Depends`: the caller's principal and ready use cases, built
per request from what app.py put on `app.state` (the runtime and the push and pull sides).
Routers stay module-level, so a reader finds each handler by its path."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

# Admin/Reader/Writer are the kit's: they declare the bearer scheme, so each route's OpenAPI
# entry promises its 401.
from platform_kit.deps import Admin, Reader, Writer
from platform_kit.runtime import ServiceRuntime
from qb_sync.runners.pull_side import PullSide
from qb_sync.runners.push_side import PushSide
from qb_sync.usecases.connect_company import Connections
from qb_sync.usecases.pull_requests import PullRequests
from qb_sync.usecases.receive_webhook import WebhookIntake
from qb_sync.usecases.sync_rows import SyncRows


def runtime_of(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def push_side(request: Request) -> PushSide:
    side: PushSide = request.app.state.push
    return side


def pull_side(request: Request) -> PullSide:
    side: PullSide = request.app.state.pull
    return side


def sync_rows(request: Request) -> SyncRows:
    push = push_side(request)
    return SyncRows(runtime_of(request).db, push.gateway, push.pusher, push.wake)


def connections(request: Request) -> Connections:
    pull = pull_side(request)
    return Connections(runtime_of(request).db, pull.settings, pull.cipher, pull.oauth, pull.wake)


def pull_requests(request: Request) -> PullRequests:
    return PullRequests(runtime_of(request).db, pull_side(request).wake)


def webhook_intake(request: Request) -> WebhookIntake:
    return WebhookIntake(runtime_of(request).db, pull_side(request).settings)


SyncRowsDep = Annotated[SyncRows, Depends(sync_rows)]
ConnectionsDep = Annotated[Connections, Depends(connections)]
PullRequestsDep = Annotated[PullRequests, Depends(pull_requests)]
WebhookIntakeDep = Annotated[WebhookIntake, Depends(webhook_intake)]

__all__ = [
    "Admin",
    "ConnectionsDep",
    "PullRequestsDep",
    "Reader",
    "SyncRowsDep",
    "WebhookIntakeDep",
    "Writer",
]
