"""Time, injectable: the server reads the clock through a :class:`Clock` so tests can move it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["Clock", "iso_minute", "iso_ms", "parse_iso", "to_datetime"]


class Clock:
    """Wall-clock time in epoch seconds; ``offset`` lets tests and the admin API shift it."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time() + self.offset


def to_datetime(ts: float) -> datetime:
    """An aware UTC datetime for an epoch timestamp."""
    return datetime.fromtimestamp(ts, UTC)


def wall_ms(dt: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmm`` (years below 1000 zero-padded, which strftime does not)."""
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T"
        f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}.{dt.microsecond // 1000:03d}"
    )


def iso_minute(ts: float) -> str:
    """Notion's page/block timestamp form: truncated to the minute, ``…T09:08:00.000Z``."""
    return wall_ms(to_datetime(ts).replace(second=0, microsecond=0)) + "Z"


def iso_ms(ts: float) -> str:
    """Notion's database/view timestamp form: milliseconds and ``+00:00``."""
    return wall_ms(to_datetime(ts)) + "+00:00"


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` allowed) into an aware datetime; naive means UTC."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
