"""Query iterators: a snapshot of matching ListIDs handed out page by page. They live only inside
one Web Connector session (and, optionally, for a time to live); a stale ID answers 3391."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class Iterator:
    remaining: list[str]
    last_used: datetime


class Iterators:
    def __init__(self, ttl: timedelta | None) -> None:
        self.ttl = ttl
        self._open: dict[str, Iterator] = {}

    def start(self, list_ids: list[str], now: datetime) -> str:
        iterator_id = "{" + str(uuid.uuid4()).upper() + "}"
        self._open[iterator_id] = Iterator(list(list_ids), now)
        return iterator_id

    def get(self, iterator_id: str, now: datetime) -> Iterator | None:
        found = self._open.get(iterator_id)
        if found is None:
            return None
        if self.ttl is not None and now - found.last_used > self.ttl:
            del self._open[iterator_id]
            return None
        found.last_used = now
        return found

    def take(self, iterator_id: str, count: int | None) -> tuple[list[str], int]:
        """The next page and how many are left; an exhausted iterator is closed."""
        found = self._open[iterator_id]
        page = found.remaining if count is None else found.remaining[:count]
        found.remaining = found.remaining[len(page) :]
        if not found.remaining:
            del self._open[iterator_id]
        return page, len(found.remaining)

    def stop(self, iterator_id: str) -> None:
        self._open.pop(iterator_id, None)

    def clear(self) -> None:
        self._open.clear()
