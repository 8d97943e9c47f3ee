"""`QboGateway.call`: the only way qb-sync talks to QuickBooks.

Each call: wait for the realm's pacing (limits.py) and a free slot, fetch an access token from
`Credentials`, build a client (client.py) and run `fn(client)` on the gateway's own thread pool
(the library is synchronous; the event loop never blocks on it, and the send pacer's sleeps never
occupy the default `asyncio.to_thread` pool other code relies on). Errors come out typed
(errors.py).

A caller holding a lease (the push worker) passes it: no HTTP attempt starts unless the lease
still covers the longest an attempt can take (connect + read timeout), so an attempt never
outlives the lease even if renewing it stalls; `LeaseEnding` is raised instead.

Retries inside one call, for errors where nothing or the same thing happens again:
- 401: refresh once through `Credentials.refreshed`, then retry;
- 429: the whole realm pauses `throttle_wait` (+ jitter), then retry. The pause is also handed
  to `PauseRecord` (store/realm_pauses.py) so the sync status API shows it, and a realm's first
  call in this process waits out a pause recorded before a restart;
- 5xx / timeout / connection error: exponential backoff with full jitter.
At most `call_retries` retries; then the error is raised and the caller (push worker, puller)
reschedules the work with its own, longer backoff. Callers only pass idempotent operations:
reads, creates carrying a requestid, updates carrying a SyncToken.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from prometheus_client import Counter
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException

from qb_sync.qbo.client import as_fault, build_client
from qb_sync.qbo.errors import AuthExpired, LeaseEnding, Throttled, Transient
from qb_sync.qbo.limits import Limits, LimitSettings, RealmLimiter
from qb_sync.qbo.token_source import Credentials
from qb_sync.settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)

QBO_CALLS = Counter("qbsync_qbo_calls_total", "HTTP calls made to QuickBooks", ["op", "outcome"])


class CallLease(Protocol):
    async def allows(self, seconds: float) -> bool:
        """Whether the lease is still held for at least `seconds` more."""
        ...


class CompanyInUse(Protocol):
    """Told about every call (store/ownership.py's `RealmOwnership`), so a company in use is
    never let go as idle. A protocol: the gateway needs no more of it."""

    def touch(self, realm: tuple[str, str]) -> None: ...


class PauseRecord(Protocol):
    """Where pauses after a 429 are kept beyond this process (store/realm_pauses.py)."""

    async def paused(self, realm_id: str, seconds: float, reason: str) -> None: ...

    async def remaining(self, realm_id: str) -> float: ...


class QboGateway:
    def __init__(
        self,
        settings: Settings,
        credentials: Credentials,
        ownership: CompanyInUse | None = None,
        pauses: PauseRecord | None = None,
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self.ownership = ownership  # told about every call, so a company in use is never idle
        self.pauses = pauses
        self.limits = Limits(
            LimitSettings(
                per_minute=settings.qbo_requests_per_minute,
                per_second=settings.qbo_requests_per_second,
                max_concurrent=settings.qbo_max_concurrent,
                burst=settings.qbo_burst,
            )
        )
        self.timeout = (settings.qbo_connect_timeout_seconds, settings.qbo_read_timeout_seconds)
        self.attempt_budget = settings.qbo_attempt_budget_seconds
        self._executor = ThreadPoolExecutor(
            max_workers=settings.qbo_threads, thread_name_prefix="qbo-call"
        )
        # Figures for tests, /metrics and the benchmark.
        self.calls = 0
        self.throttled = 0

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def call(
        self,
        tenant_id: str,
        realm_id: str,
        op: str,
        fn: Callable[[QuickBooks], T],
        *,
        lease: CallLease | None = None,
    ) -> T:
        limiter = self.limits.of(realm_id)
        if not limiter.resumed:
            await self._resume_pause(realm_id, limiter)
        if self.ownership is not None:
            self.ownership.touch((tenant_id, realm_id))
        tokens = await self.credentials.tokens(tenant_id, realm_id)
        refreshed = False
        attempt = 0
        loop = asyncio.get_running_loop()
        while True:
            await limiter.bucket.take()
            try:
                async with limiter.in_flight:
                    if lease is not None and not await lease.allows(self.attempt_budget):
                        raise LeaseEnding(f"{op}: the lease would end before an attempt could")
                    self.calls += 1
                    result = await loop.run_in_executor(
                        self._executor,
                        functools.partial(
                            self._run, realm_id, tokens.access_token, fn, limiter.pacer.wait
                        ),
                    )
                QBO_CALLS.labels(op, "ok").inc()
                return result
            except AuthExpired:
                QBO_CALLS.labels(op, "401").inc()
                if refreshed:
                    raise
                refreshed = True
                tokens = await self.credentials.refreshed(tenant_id, realm_id, tokens.access_token)
                continue
            except Throttled:
                QBO_CALLS.labels(op, "429").inc()
                self.throttled += 1
                wait = self.settings.qbo_throttle_wait_seconds * (1 + random.random() * 0.2)
                limiter.bucket.pause(wait)
                log.warning(
                    "throttled by QuickBooks", extra={"fields": {"realm_id": realm_id, "op": op}}
                )
                await self._record_pause(realm_id, wait, f"QuickBooks answered 429 to {op}")
                if attempt >= self.settings.qbo_call_retries:
                    raise
            except Transient as exc:
                QBO_CALLS.labels(op, "transient").inc()
                if attempt >= self.settings.qbo_call_retries:
                    raise
                log.info(
                    "transient QuickBooks error, retrying",
                    extra={"fields": {"op": op, "error": str(exc)}},
                )
                base = self.settings.qbo_retry_base_seconds
                await asyncio.sleep(random.uniform(0, base * 2**attempt))
            attempt += 1

    async def _resume_pause(self, realm_id: str, limiter: RealmLimiter) -> None:
        """A realm's first call here: a pause recorded by an earlier process still holds."""
        limiter.resumed = True
        if self.pauses is None:
            return
        try:
            left = await self.pauses.remaining(realm_id)
        except Exception:
            log.warning("reading a recorded pause failed", exc_info=True)
            return
        if left > 0:
            limiter.bucket.pause(left)

    async def _record_pause(self, realm_id: str, seconds: float, reason: str) -> None:
        if self.pauses is None:
            return
        try:
            await self.pauses.paused(realm_id, seconds, reason)
        except Exception:  # the in-memory pause holds anyway; showing it is best effort
            log.warning("recording a pause failed", exc_info=True)

    def _run(
        self,
        realm_id: str,
        access_token: str,
        fn: Callable[[QuickBooks], T],
        before_send: Callable[[], None],
    ) -> T:
        qb = build_client(
            environment=self.settings.qbo_environment,
            base_url=self.settings.qbo_base_url,
            client_id=self.settings.qbo_client_id,
            realm_id=realm_id,
            access_token=access_token,
            timeout=self.timeout,
            before_send=before_send,
        )
        try:
            return fn(qb)
        except QuickbooksException as exc:
            raise as_fault(exc) from exc
