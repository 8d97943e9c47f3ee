"""Company-time clock: QBO stamps MetaData in the company's offset with second precision."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

from qbo_emulator.settings import Settings


class Clock:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def epoch(self) -> float:
        """Seconds since the epoch, shifted by the test-controlled offset."""
        return time.time() + self._settings.clock_offset_seconds

    def tz(self) -> timezone:
        return timezone(timedelta(minutes=self._settings.tz_offset_minutes))

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.epoch(), UTC).astimezone(self.tz())

    def stamp(self) -> str:
        """MetaData format: `2015-07-23T10:58:12-07:00`."""
        return self.now().replace(microsecond=0).isoformat()

    def response_time(self) -> str:
        """The `time` field of a response carries milliseconds."""
        return self.now().isoformat(timespec="milliseconds")

    def parse(self, text: str) -> datetime:
        """An ISO date or datetime; without an offset it is company time."""
        value = datetime.fromisoformat(text.strip())
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.tz())
        return value
