"""Per-realm throttling: sliding per-minute and per-second windows plus requests in flight."""

from __future__ import annotations

from collections import defaultdict, deque

from qbo_emulator.clock import Clock
from qbo_emulator.settings import Settings


class Throttle:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.minute: dict[str, deque[float]] = defaultdict(deque)
        self.second: dict[str, deque[float]] = defaultdict(deque)
        self.batch_minute: dict[str, deque[float]] = defaultdict(deque)
        self.in_flight: dict[str, int] = defaultdict(int)
        # Per-realm overrides of the settings: per_minute, per_second, concurrent, batch_per_minute
        self.limits: dict[str, dict[str, int]] = {}

    @staticmethod
    def _trim(window: deque[float], now: float, span: float) -> None:
        while window and window[0] <= now - span:
            window.popleft()

    def admit(self, realm_id: str, is_batch: bool) -> str | None:
        """Count the request if it fits every limit and answer None; otherwise the name of the
        limit that refuses it (per_minute, per_second, concurrent, batch_per_minute), and the
        refused request leaves no trace."""
        now = self.clock.epoch()
        minute, second, batch = (
            self.minute[realm_id],
            self.second[realm_id],
            self.batch_minute[realm_id],
        )
        self._trim(minute, now, 60)
        self._trim(second, now, 1)
        self._trim(batch, now, 60)
        s, own = self.settings, self.limits.get(realm_id, {})
        checks = (
            ("per_minute", len(minute), s.requests_per_minute),
            ("per_second", len(second), s.requests_per_second),
            ("concurrent", self.in_flight[realm_id], s.max_concurrent),
            ("batch_per_minute", len(batch) if is_batch else -1, s.batch_per_minute),
        )
        for name, used, default in checks:
            if used >= own.get(name, default):
                return name
        minute.append(now)
        second.append(now)
        if is_batch:
            batch.append(now)
        self.in_flight[realm_id] += 1
        return None

    def charge(self, realm_id: str, extra: int) -> None:
        """Count `extra` more requests in the realm's per-minute window (a batch's other items
        when batches are charged per item); later requests feel them."""
        now = self.clock.epoch()
        self.minute[realm_id].extend([now] * extra)

    def release(self, realm_id: str) -> None:
        self.in_flight[realm_id] -= 1

    def reset(self) -> None:
        self.minute.clear()
        self.second.clear()
        self.batch_minute.clear()
        self.limits.clear()
