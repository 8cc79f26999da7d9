"""Calls with the retry rules the deploy engine needs, on top of notion-client.

notion-client's own retries are off: it retries 500/503 only for GETs and knows nothing of
creates that may have succeeded. Here every call is classified:

- **transient** (429 with its Retry-After, 409, 5xx, timeouts, dropped connections) is
  retried with exponential back-off and full jitter;
- a **non-idempotent create** that failed *ambiguously* (5xx, timeout, dropped connection:
  the write may have happened) is first **looked up** (the caller says how), and only
  created again if the lookup finds nothing — so no retry ever leaves a duplicate;
- anything else is raised as the matching :class:`~devfactory.errors.NotionError`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
from notion_client.errors import HTTPResponseError, RequestTimeoutError

from devfactory.errors import NotionError, TransientNotionError, notion_error_for

__all__ = ["NotionAPI", "RetryPolicy"]

Json = dict[str, Any]
PAGE_SIZE = 100  # the most results Notion returns a page
TRANSIENT_STATUSES = frozenset([409, 429, 500, 502, 503, 504, 529])
AMBIGUOUS_STATUSES = frozenset([500, 502, 503, 504, 529])


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: attempts per call, back-off base and cap (seconds), total budget."""

    attempts: int = 12
    base: float = 0.1
    cap: float = 5.0
    total: float = 300.0


class _Failure(Exception):
    """A failed attempt, classified."""

    def __init__(
        self, error: Exception, *, transient: bool, ambiguous: bool, retry_after: float | None
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.transient = transient
        self.ambiguous = ambiguous
        self.retry_after = retry_after


def _classify(error: Exception) -> _Failure:
    if isinstance(error, HTTPResponseError):
        status = error.status
        retry_after = None
        if status == 429:
            try:
                retry_after = float(error.headers.get("retry-after", "1"))
            except ValueError:
                retry_after = 1.0
        return _Failure(
            error,
            transient=status in TRANSIENT_STATUSES,
            ambiguous=status in AMBIGUOUS_STATUSES,
            retry_after=retry_after,
        )
    if isinstance(error, RequestTimeoutError | httpx.TimeoutException | httpx.TransportError):
        return _Failure(error, transient=True, ambiguous=True, retry_after=None)
    return _Failure(error, transient=False, ambiguous=False, retry_after=None)


def _as_notion_error(error: Exception) -> Exception:
    if isinstance(error, HTTPResponseError):
        code: Any = getattr(error, "code", None)
        code_text = str(getattr(code, "value", code) or "unknown")
        return notion_error_for(error.status, code_text, str(error))
    if isinstance(error, RequestTimeoutError | httpx.TimeoutException | httpx.TransportError):
        return TransientNotionError(f"no answer from Notion: {type(error).__name__}: {error}")
    return error


class NotionAPI:
    """Runs calls with retries; counts retries and lookups for reports."""

    def __init__(
        self,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = rng
        self.retries = 0
        self.lookups = 0

    async def pages(
        self, fn: Callable[..., Awaitable[Any]], label: str, **body: Any
    ) -> AsyncIterator[Json]:
        """Each answer of a paginated read (``fn(**body)``), following ``next_cursor``,
        100 results a page."""
        cursor: str | None = None
        while True:
            more = {"start_cursor": cursor} if cursor else {}
            answer = await self.call(
                partial(fn, **body, **more, page_size=PAGE_SIZE), idempotent=True, label=label
            )
            yield answer
            if not answer.get("has_more"):
                return
            cursor = answer.get("next_cursor")

    async def results(
        self, fn: Callable[..., Awaitable[Any]], label: str, **body: Any
    ) -> list[Json]:
        """Every result of a paginated read."""
        return [r async for answer in self.pages(fn, label, **body) for r in answer["results"]]

    async def call(
        self,
        fn: Callable[[], Awaitable[Any]],
        *,
        idempotent: bool,
        lookup: Callable[[], Awaitable[Json | None]] | None = None,
        label: str = "call",
    ) -> Json:
        """Run ``fn`` until it succeeds or fails for good.

        ``idempotent`` calls are simply retried; others are retried only when the failure
        says the write did not happen, or after ``lookup`` found nothing.
        """
        waited = 0.0
        for attempt in range(self.policy.attempts):
            if attempt:
                self.retries += 1
            try:
                result = await fn()
                return {} if result is None else dict(result)
            except Exception as exc:  # classified below; anything unknown is re-raised
                failure = _classify(exc)
            if not failure.transient:
                raise _as_notion_error(failure.error) from failure.error
            if failure.ambiguous and not idempotent:
                if lookup is None:
                    raise _as_notion_error(failure.error) from failure.error
                self.lookups += 1
                found = await self.call(lookup, idempotent=True, label=f"lookup for {label}")
                if found:
                    return found
            delay = (
                failure.retry_after if failure.retry_after is not None else self._backoff(attempt)
            )
            if waited + delay > self.policy.total:
                break
            waited += delay
            await self._sleep(delay)
        raise TransientNotionError(
            f"{label}: gave up after {self.policy.attempts} attempts ({failure.error})"
        ) from failure.error

    def _backoff(self, attempt: int) -> float:
        return float(min(self.policy.cap, self.policy.base * (2**attempt)) * self._rng())


def is_not_found(error: Exception) -> bool:
    """Whether an error says the object does not exist (or is not shared)."""
    return isinstance(error, NotionError) and error.status == 404
