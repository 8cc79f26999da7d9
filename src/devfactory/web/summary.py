"""The overview numbers: calls per minute, success rate, latency percentiles, and the rest.

Read from the Prometheus registry of this process (:mod:`devfactory.obs.metrics`), so they
describe the calls made by this process since it started. Counters only ever grow; the rate
per minute comes from :class:`RateSampler`, which remembers recent totals.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from devfactory.obs.metrics import REGISTRY

__all__ = ["RateSampler", "percentile", "summary"]

_KINDS = ("notion", "tool")
_OUTCOMES = ("ok", "client_error", "server_error", "no_answer")


def _value(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


class RateSampler:
    """Totals seen over the last ``window`` seconds, to turn a counter into a rate."""

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, float]] = deque()

    def per_minute(self, total: float) -> float:
        """Record ``total`` now; its growth per minute over the window (0 on the first)."""
        now = self.clock()
        with self._lock:
            self._samples.append((now, total))
            while len(self._samples) > 2 and self._samples[1][0] <= now - self.window:
                self._samples.popleft()
            then, before = self._samples[0]
        elapsed = now - then
        return 0.0 if elapsed <= 0 else max(0.0, total - before) * 60.0 / elapsed


def percentile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The ``q`` quantile of a cumulative histogram ``[(upper_bound, count), …]``,
    interpolated inside its bucket as Prometheus' ``histogram_quantile`` does; None if empty."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower
            share = (rank - below) / (count - below) if count > below else 1.0
            return lower + (bound - lower) * share
        lower, below = bound, count
    return lower


def _latency_buckets() -> list[tuple[float, float]]:
    totals: dict[float, float] = {}
    for metric in REGISTRY.collect():
        if metric.name != "devfactory_call_duration_seconds":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                totals[bound] = totals.get(bound, 0.0) + sample.value
    return sorted(totals.items())


def summary(sampler: RateSampler, pending_approvals: int) -> dict[str, Any]:
    """The overview as JSON-ready data (see the module docstring for the source)."""
    by_outcome = {
        outcome: sum(
            _value("devfactory_calls_total", {"kind": k, "outcome": outcome}) for k in _KINDS
        )
        for outcome in _OUTCOMES
    }
    total = sum(by_outcome.values())
    buckets = _latency_buckets()
    p50, p95 = percentile(buckets, 0.5), percentile(buckets, 0.95)
    return {
        "calls": {
            "total": int(total),
            "per_minute": round(sampler.per_minute(total), 3),
            "success_rate": None if total == 0 else round(by_outcome["ok"] / total, 4),
            "by_outcome": {k: int(v) for k, v in by_outcome.items()},
        },
        "latency_seconds": {
            "p50": None if p50 is None else round(p50, 4),
            "p95": None if p95 is None else round(p95, 4),
        },
        "retries": int(sum(_value("devfactory_retries_total", {"kind": k}) for k in _KINDS)),
        "rate_limited": int(
            sum(_value("devfactory_rate_limited_total", {"kind": k}) for k in _KINDS)
        ),
        "pending_approvals": pending_approvals,
        "process": {
            "cpu_ratio": round(_value("devfactory_process_cpu_ratio"), 4),
            "resident_memory_bytes": int(_value("devfactory_process_resident_memory_bytes")),
            "threads": int(_value("devfactory_process_threads")),
        },
    }
