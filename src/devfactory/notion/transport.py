"""The one seam every Notion call passes through: pacing, a record, a log line and metrics.

:class:`NotionTransport` wraps any httpx async transport (the network, or the local server
in-process through ASGI). Each request waits for the rate limiter, is timed, and lands in
the :class:`CallLog` with its method, path, status and timings, so plans can promise call
counts and reports can show what was done. Each also writes one ``notion call`` line to the
performance log stream (method, path, status, duration, attempt, rate-limit wait, target;
never a body, a header or the token) and updates the ``kind="notion"`` metrics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx

from devfactory.executor import RateLimiter, TokenBucket, current_attempt
from devfactory.obs.log import get_logger
from devfactory.obs.metrics import CALL_DURATION, CALLS, RATE_LIMIT_WAIT, RATE_LIMITED, outcome_of

__all__ = ["Call", "CallLog", "NotionTransport"]

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
    """Paces requests with a rate limiter, records and logs them, then hands them on.

    ``target`` is the target's label (no secrets) for the log line.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        limiter: RateLimiter | None = None,
        log_: CallLog | None = None,
        target: str = "",
    ) -> None:
        self.inner = inner
        self.limiter: RateLimiter = limiter or TokenBucket(None)
        self.log = log_ or CallLog()
        self.target = target
        self._logger = get_logger("notion", stream="performance")

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
            self._observe(call)

    def _observe(self, call: Call) -> None:
        CALLS.labels("notion", outcome_of(call.status)).inc()
        CALL_DURATION.labels("notion").observe(call.duration)
        if call.waited:
            RATE_LIMIT_WAIT.labels("notion").inc(call.waited)
        if call.status == 429:
            RATE_LIMITED.labels("notion").inc()
        self._logger.info(
            "notion call",
            method=call.method,
            path=call.path,
            status=call.status,
            duration_s=round(call.duration, 6),
            attempt=current_attempt(),
            rate_limit_wait_s=round(call.waited, 6),
            target=self.target,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()
