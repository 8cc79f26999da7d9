"""The overview numbers: calls per minute, success rate, latency percentiles, and the rest.

Read from the shared log store, not from this process's Prometheus registry: the gateway
and the deploy engine usually run in other processes, and what they share with the
dashboard is the store. Two kinds of lines are calls:

- ``mcp.call`` (audit stream, component ``gateway``): one per tool call through the
  gateway, with ``outcome`` (``ok``, ``tool_error``, ``halted``, ``denied``, …) and
  ``duration_s``;
- ``notion call`` (performance stream, component ``notion``): one per HTTP request to a
  Notion target, with ``status``, ``duration_s``, ``attempt`` (above 1: a retry) and
  ``rate_limit_wait_s`` (time the rate limiter held it back).

:class:`CallWindow` reads those lines of the last :data:`WINDOW` seconds and folds them into
totals and a per-minute series for the charts. Process CPU and memory are this process's
own (psutil): the only numbers not shared.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import psutil

from devfactory.obs.logstore import LogQuery, LogStore
from devfactory.obs.metrics import outcome_of

__all__ = ["CALL_EVENTS", "WINDOW", "CallWindow", "quantile", "summary"]

WINDOW = 15 * 60
"""Seconds of history the overview covers (its series has one point a minute)."""
CALL_EVENTS = ("mcp.call", "notion call")
MAX_LINES = 50_000
"""Call lines read at most per summary; past that the totals say ``truncated``."""


def quantile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile of ``values`` (linear between the closest ranks); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _moment(record: Mapping[str, Any]) -> float | None:
    stamp = record.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


class _Call:
    """One call line reduced to what the overview counts."""

    __slots__ = ("at", "duration", "kind", "ok", "outcome", "rate_limited", "retry", "waited")

    def __init__(self, at: float, record: Mapping[str, Any]) -> None:
        self.at = at
        self.duration = _number(record.get("duration_s"))
        if record.get("event") == "mcp.call":
            self.kind = "mcp"
            self.outcome = str(record.get("outcome") or "unknown")
            self.retry = False
            self.rate_limited = False
            self.waited = 0.0
        else:
            status = record.get("status")
            self.kind = "notion"
            self.outcome = outcome_of(status if isinstance(status, int) else None)
            self.retry = _number(record.get("attempt")) > 1
            self.rate_limited = status == 429
            self.waited = _number(record.get("rate_limit_wait_s"))
        self.ok = self.outcome == "ok"


class CallWindow:
    """The recent calls in ``logs``; ``notion_rate`` is the allowed Notion requests per second
    (the budget the overview shows in use). ``clock`` is injectable for tests."""

    def __init__(
        self,
        logs: LogStore,
        notion_rate: float,
        *,
        window: int = WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.logs = logs
        self.notion_rate = notion_rate
        self.window = window
        self.clock = clock
        self._process = psutil.Process(os.getpid())
        self._lock = threading.Lock()
        self._process.cpu_percent(None)  # the first reading primes the counter

    def calls(self, now: float) -> tuple[list[_Call], bool]:
        """The call lines of the window ending ``now``, oldest first; and whether capped."""
        query = LogQuery(
            event=CALL_EVENTS,
            stream=("audit", "performance"),
            since=datetime.fromtimestamp(now - self.window, UTC),
            until=datetime.fromtimestamp(now + 1, UTC),
            limit=MAX_LINES,
        )
        found = self.logs.search(query)
        calls = [
            _Call(at, record) for record in reversed(found) if (at := _moment(record)) is not None
        ]
        return calls, len(found) >= MAX_LINES

    def process(self) -> dict[str, Any]:
        """CPU (1.0 = one core, since the last summary), memory and threads of this process."""
        with self._lock, self._process.oneshot():
            cpu = self._process.cpu_percent(None) / 100.0
            memory = self._process.memory_info().rss
            threads = self._process.num_threads()
        return {"cpu_ratio": round(cpu, 4), "resident_memory_bytes": memory, "threads": threads}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _series(calls: Iterable[_Call], start: float, minutes: int) -> dict[str, Any]:
    """Per-minute counts and latency percentiles, one point a minute from ``start``."""
    per: list[list[_Call]] = [[] for _ in range(minutes)]
    for call in calls:
        slot = int((call.at - start) // 60)
        if 0 <= slot < minutes:
            per[slot].append(call)
    return {
        "start": start,
        "step": 60,
        "calls": [len(slot) for slot in per],
        "errors": [sum(not c.ok for c in slot) for slot in per],
        "p50": [_round(quantile([c.duration for c in slot], 0.5)) for slot in per],
        "p95": [_round(quantile([c.duration for c in slot], 0.95)) for slot in per],
    }


def summary(window: CallWindow, pending_approvals: int) -> dict[str, Any]:
    """The overview as JSON-ready data (see the module docstring for the sources)."""
    now = window.clock()
    calls, truncated = window.calls(now)
    total = len(calls)
    ok = sum(c.ok for c in calls)
    last_minute = [c for c in calls if c.at >= now - 60]
    notion_minute = sum(c.kind == "notion" for c in last_minute)
    durations = [c.duration for c in calls]
    by_outcome: dict[str, int] = {}
    for call in calls:
        by_outcome[call.outcome] = by_outcome.get(call.outcome, 0) + 1
    minutes = max(1, window.window // 60)
    # The series ends with the current (partial) minute.
    start = (math.floor(now / 60) - minutes + 1) * 60.0
    used = notion_minute / 60.0
    return {
        "window": {
            "seconds": window.window,
            "since": datetime.fromtimestamp(now - window.window, UTC).isoformat(),
            "until": datetime.fromtimestamp(now, UTC).isoformat(),
            "truncated": truncated,
        },
        "calls": {
            "total": total,
            "per_minute": len(last_minute),
            "success_rate": None if total == 0 else round(ok / total, 4),
            "by_outcome": by_outcome,
            "by_kind": {
                "mcp": sum(c.kind == "mcp" for c in calls),
                "notion": sum(c.kind == "notion" for c in calls),
            },
        },
        "latency_seconds": {
            "p50": _round(quantile(durations, 0.5)),
            "p95": _round(quantile(durations, 0.95)),
        },
        "retries": sum(c.retry for c in calls),
        "rate_limited": sum(c.rate_limited for c in calls),
        "rate_limit": {
            "allowed_per_second": window.notion_rate,
            "used_per_second": round(used, 4),
            "in_use": round(used / window.notion_rate, 4) if window.notion_rate > 0 else None,
            "wait_seconds": round(sum(c.waited for c in calls), 3),
        },
        "pending_approvals": pending_approvals,
        "series": _series(calls, start, minutes),
        "process": window.process(),
    }
