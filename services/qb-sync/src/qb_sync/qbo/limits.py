"""Per-realm pacing below QuickBooks' limits, so we never earn a 429 in the first place.

QuickBooks allows 500 requests per minute, 10 per second and 10 in flight per realm
(docs/reference/quickbooks-online.md#limits-and-throttling; the emulator enforces the same as
sliding windows). We pace every realm with:
- a semaphore of `max_concurrent` calls in flight (default 4);
- a token bucket refilled at min(per_minute / 60, per_second) tokens a second with a burst of
  `burst` (default 1: strict pacing). In any sliding window of T seconds at most
  burst + rate * T calls start, so 470/min with burst 1 stays under 500 per 60 s and, at
  7.8/s, under 10 per second;
- a pause: after a 429 the whole realm waits (`pause`), not only the caller that saw it (the
  gateway also records it in PostgreSQL, and a new limiter first takes over a recorded one);
- a send pacer in the worker thread, right before the bytes go out (see SendPacer).
The gateway takes a token per HTTP attempt (retries included).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class LimitSettings:
    per_minute: float = 470.0
    per_second: float = 8.0
    max_concurrent: int = 4
    burst: float = 1.0

    @property
    def rate(self) -> float:
        return min(self.per_minute / 60.0, self.per_second)


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        # Empty at first: a restarted process does not know what its predecessor sent in the
        # last moments, so its first call waits one interval like any other.
        self.tokens = 0.0
        self.updated = time.monotonic()
        self.paused_until = 0.0
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        # The lock queues callers in order, so one slow caller cannot be starved by newcomers.
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self.paused_until:
                    await asyncio.sleep(self.paused_until - now)
                    continue
                self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self.tokens) / self.rate)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)
        self.tokens = 0.0


class SendPacer:
    """Spacing at the moment a request goes on the wire, in the worker thread. The token bucket
    decides when a call may start; a thread that is scheduled late (a busy CPU) would then send
    together with the next one, and QuickBooks counts arrivals. This keeps at least 1/rate
    seconds between two sends of one realm whatever the scheduling."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


class RealmLimiter:
    def __init__(self, limits: LimitSettings) -> None:
        self.bucket = TokenBucket(limits.rate, limits.burst)
        self.in_flight = asyncio.Semaphore(limits.max_concurrent)
        self.pacer = SendPacer(limits.rate)
        self.resumed = False  # whether a pause recorded before this process was looked up


class Limits:
    """One `RealmLimiter` per realm, created on first use."""

    def __init__(self, settings: LimitSettings) -> None:
        self.settings = settings
        self._realms: dict[str, RealmLimiter] = {}

    def of(self, realm_id: str) -> RealmLimiter:
        limiter = self._realms.get(realm_id)
        if limiter is None:
            limiter = self._realms[realm_id] = RealmLimiter(self.settings)
        return limiter
