"""Notion calls as the deploy engine makes them: one call, or every page of a paginated read.

:class:`NotionAPI` is a thin Notion-specific face of an :class:`~devfactory.executor.Executor`,
which owns the timeouts, retries and the resolve-before-retry rule for creates (notion-client's
own retries are off: it retries 500/503 only for GETs and knows nothing of creates that may
have succeeded). Here answers become plain dicts and pagination follows ``next_cursor``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

from devfactory.errors import NotionError
from devfactory.executor import Executor, Idempotency

__all__ = ["Idempotency", "NotionAPI", "is_not_found"]

Json = dict[str, Any]
PAGE_SIZE = 100  # the most results Notion returns a page


class NotionAPI:
    """Runs Notion calls through an executor; ``retries`` and ``lookups`` are its counters."""

    def __init__(self, executor: Executor | None = None) -> None:
        self.executor = executor or Executor()

    @property
    def retries(self) -> int:
        """Attempts after the first, over every call so far."""
        return self.executor.retries

    @property
    def lookups(self) -> int:
        """Ambiguous creates resolved (looked up) before trying again."""
        return self.executor.lookups

    async def call(
        self,
        fn: Callable[[], Awaitable[Any]],
        *,
        idempotency: Idempotency,
        resolve: Callable[[], Awaitable[Json | None]] | None = None,
        label: str = "call",
    ) -> Json:
        """Run ``fn`` until it succeeds or fails for good; its answer as a dict.

        An ``UNSAFE`` call (a create) that failed ambiguously is retried only after
        ``resolve`` found nothing; what ``resolve`` finds is the answer otherwise.
        """

        async def answer() -> Json:
            result = await fn()
            return {} if result is None else dict(result)

        return await self.executor.run(
            answer, idempotency=idempotency, resolve=_found(resolve), label=label
        )

    async def pages(
        self, fn: Callable[..., Awaitable[Any]], label: str, **body: Any
    ) -> AsyncIterator[Json]:
        """Each answer of a paginated read (``fn(**body)``), following ``next_cursor``,
        100 results a page."""
        cursor: str | None = None
        while True:
            more = {"start_cursor": cursor} if cursor else {}
            answer = await self.call(
                partial(fn, **body, **more, page_size=PAGE_SIZE),
                idempotency=Idempotency.SAFE,
                label=label,
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


def _found(
    resolve: Callable[[], Awaitable[Json | None]] | None,
) -> Callable[[], Awaitable[Json | None]] | None:
    """``resolve`` answering a dict when it found something, else None (an empty answer is
    "not found")."""
    if resolve is None:
        return None
    lookup = resolve

    async def found() -> Json | None:
        hit = await lookup()
        return dict(hit) if hit else None

    return found


def is_not_found(error: Exception) -> bool:
    """Whether an error says the object does not exist (or is not shared)."""
    return isinstance(error, NotionError) and error.status == 404
