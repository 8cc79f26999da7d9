"""The one seam every Notion call passes through: pacing and a record of each call.

:class:`NotionTransport` wraps any httpx async transport (the network, or the local server
in-process through ASGI). Each request waits for the rate limiter, is timed, and lands in
the :class:`CallLog` with its method, path, status and timings, so plans can promise call
counts and reports can show what was done.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import httpx

from devfactory.notion.ratelimit import TokenBucket

__all__ = ["Call", "CallLog", "NotionTransport"]

log = logging.getLogger("devfactory.notion")
_READ_POSTS = ("/query", "/v1/search")


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request to Notion as it went out."""

    method: str
    path: str
    status: int | None  # None when no answer came (connection error, timeout)
    duration: float
    waited: float

    @property
    def is_read(self) -> bool:
        """GETs, queries and searches read; everything else writes."""
        return self.method == "GET" or (self.method == "POST" and self.path.endswith(_READ_POSTS))


@dataclass
class CallLog:
    """Every call made through one transport, in order."""

    calls: list[Call] = field(default_factory=list)

    def add(self, call: Call) -> None:
        self.calls.append(call)

    @property
    def reads(self) -> int:
        return sum(1 for c in self.calls if c.is_read)

    @property
    def writes(self) -> int:
        return sum(1 for c in self.calls if not c.is_read)

    def mark(self) -> int:
        """A position to count calls from (``since``)."""
        return len(self.calls)

    def since(self, mark: int) -> list[Call]:
        """Calls made after ``mark``."""
        return self.calls[mark:]


class NotionTransport(httpx.AsyncBaseTransport):
    """Paces requests with a token bucket and records them, then hands them on."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        limiter: TokenBucket | None = None,
        log_: CallLog | None = None,
    ) -> None:
        self.inner = inner
        self.limiter = limiter or TokenBucket(None)
        self.log = log_ or CallLog()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        waited = await self.limiter.acquire()
        started = time.perf_counter()
        status: int | None = None
        try:
            response = await self.inner.handle_async_request(request)
            status = response.status_code
            return response
        finally:
            call = Call(
                request.method, request.url.path, status, time.perf_counter() - started, waited
            )
            self.log.add(call)
            log.debug(
                "notion %s %s -> %s in %.1f ms (waited %.1f ms)",
                call.method,
                call.path,
                status,
                call.duration * 1000,
                waited * 1000,
            )

    async def aclose(self) -> None:
        await self.inner.aclose()
