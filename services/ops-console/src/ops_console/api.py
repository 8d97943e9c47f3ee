"""The console's JSON API, used by its page (static/). Every route needs an admin token."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ops_console import dead_letters, health, quickbooks
from ops_console.charts import GROUPS, render_group
from ops_console.context import Console, admin, bearer, console
from ops_console.metrics import LETTERS_REPLAYED
from ops_console.upstream import Upstream
from platform_kit.auth import Principal

router = APIRouter(prefix="/api", tags=["ops console"])
Admin = Annotated[Principal, Depends(admin)]
Ctx = Annotated[Console, Depends(console)]
Token = Annotated[str, Depends(bearer)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\w.:-]+$")]


@router.get("/session")
async def session(who: Admin) -> dict[str, str]:
    return {"tenant_id": who.tenant_id, "name": who.name}


@router.get("/services")
async def services(_who: Admin, ctx: Ctx) -> Any:
    upstreams: list[tuple[Upstream, str | None]] = [
        (ctx.customer, "/readyz"),
        (ctx.billing, "/readyz"),
        (ctx.qb_sync, "/readyz"),
    ]
    if ctx.emulator:
        upstreams.append((ctx.emulator, None))
    return await health.all_health(upstreams, ctx.prometheus, ctx.settings.platform_status_file)


@router.get("/charts/{group}")
async def charts(
    group: Literal["flow", "quickbooks"],
    _who: Admin,
    ctx: Ctx,
    minutes: Annotated[int, Query(ge=1, le=24 * 60)] = 15,
) -> dict[str, Any]:
    out: dict[str, Any] = {"charts": await render_group(ctx.prometheus, GROUPS[group], minutes)}
    if group == "quickbooks":
        out["limit_per_minute"] = ctx.settings.qbo_calls_per_minute_limit
    return out


@router.get("/dead-letters")
async def dead_letter_topics(_who: Admin, ctx: Ctx) -> dict[str, Any]:
    return {"topics": await dead_letters.topic_counts(ctx.settings.kafka_bootstrap_servers)}


@router.get("/dead-letters/{topic}")
async def dead_letter_messages(topic: str, _who: Admin, ctx: Ctx) -> dict[str, Any]:
    dead_letters.known_topic(topic)
    shown = ctx.settings.dead_letters_shown
    items = await dead_letters.letters(ctx.settings.kafka_bootstrap_servers, topic, shown)
    return {"topic": topic, "messages": items}


class ReplayIn(BaseModel):
    """One letter (`partition` and `offset`) or every waiting letter (`all: true`)."""

    model_config = ConfigDict(extra="forbid")
    all: bool = False
    partition: int | None = Field(default=None, ge=0)
    offset: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_or_all(self) -> ReplayIn:
        one = self.partition is not None and self.offset is not None
        if self.all == one or (not one and (self.partition, self.offset) != (None, None)):
            raise ValueError("give either partition and offset, or all: true")
        return self


@router.post("/dead-letters/{topic}/replay")
async def replay(topic: str, body: ReplayIn, _who: Admin, ctx: Ctx) -> dict[str, Any]:
    dead_letters.known_topic(topic)
    count = await dead_letters.replay(
        ctx.settings.kafka_bootstrap_servers, topic, body.partition, body.offset
    )
    LETTERS_REPLAYED.labels(topic).inc(count)
    return {"topic": topic, "replayed": count}


@router.get("/quickbooks")
async def quickbooks_overview(_who: Admin, ctx: Ctx, token: Token) -> dict[str, Any]:
    out = await quickbooks.overview(ctx.qb_sync, token)
    out["limit_per_minute"] = ctx.settings.qbo_calls_per_minute_limit
    return out


@router.post("/quickbooks/sync/{realm_id}/{customer_id}/retry")
async def retry_push(realm_id: Id, customer_id: Id, _who: Admin, ctx: Ctx, token: Token) -> Any:
    return await ctx.qb_sync.json("POST", f"/quickbooks/sync/{realm_id}/{customer_id}/retry", token)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    qb_customer_id: Id | None = None
    keep: Literal["platform", "quickbooks"] | None = None


@router.post("/quickbooks/sync/{realm_id}/{customer_id}/resolve")
async def resolve_push(
    realm_id: Id, customer_id: Id, body: ResolveIn, _who: Admin, ctx: Ctx, token: Token
) -> Any:
    return await ctx.qb_sync.json(
        "POST",
        f"/quickbooks/sync/{realm_id}/{customer_id}/resolve",
        token,
        json=body.model_dump(exclude_none=True),
    )


@router.get("/billing")
async def billing(
    _who: Admin, ctx: Ctx, token: Token, include_resolved: bool = False
) -> dict[str, Any]:
    pending, conflicts, rejections = await asyncio.gather(
        ctx.billing.json("GET", "/v1/pending", token, params={"limit": 1000}),
        ctx.billing.json("GET", "/v1/conflicts", token, params={"limit": 1000}),
        ctx.billing.json(
            "GET",
            "/v1/rejections",
            token,
            params={"limit": 1000, "include_resolved": str(include_resolved).lower()},
        ),
    )
    return {
        "pending": pending["items"],
        "conflicts": conflicts["items"],
        "rejections": rejections["items"],
    }
