"""A token bucket for outgoing calls (clients pace themselves; the server may still say 429)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; ``rate=None`` never waits.

    The clock and the sleep are injectable so tests do not wait in real time.
    """

    def __init__(
        self,
        rate: float | None,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._last = clock()
        self._lock = asyncio.Lock()
        self.waited = 0.0

    async def acquire(self) -> float:
        """Take one token, waiting for it if needed; returns the seconds waited."""
        if self.rate is None or self.rate <= 0:
            return 0.0
        async with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
            self._last = now
            wait = 0.0
            if self._tokens < 1.0:
                wait = (1.0 - self._tokens) / self.rate
                await self._sleep(wait)
                now = self._clock()
                self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
                self._last = now
            self._tokens = max(0.0, self._tokens - 1.0)
            self.waited += wait
            return wait
