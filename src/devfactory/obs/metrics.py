"""Prometheus metrics of devfactory, on one registry of its own.

Names follow Prometheus practice: the ``devfactory_`` prefix, base units in the name
(``_seconds``, ``_bytes``), counters ending in ``_total``, and labels only from small fixed
sets (never an operation id, a path or a page id: every label value is a new series).

Every devfactory server mounts :func:`metrics_app` at ``/metrics``; tests read values with
``REGISTRY.get_sample_value(name, labels)``. Labelled series are pre-initialised for the
values that are known up front, so a scrape shows zeros rather than nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import psutil
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    make_asgi_app,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = [
    "CALLS",
    "CALL_DURATION",
    "CONTENT_TYPE_LATEST",
    "EVENTS_DROPPED",
    "GATE_DECISIONS",
    "LOG_DROPPED",
    "LOG_LINES",
    "PENDING_APPROVALS",
    "RATE_LIMITED",
    "RATE_LIMIT_WAIT",
    "REGISTRY",
    "RETRIES",
    "TASKS",
    "metrics_app",
    "render",
]

REGISTRY = CollectorRegistry(auto_describe=True)

# Calls to the outside: kind is "notion" (HTTP to a Notion API) or "tool" (an MCP tool call).
CALLS = Counter(
    "devfactory_calls",
    "Calls made, by kind and outcome (ok, client_error, server_error, no_answer).",
    ["kind", "outcome"],
    registry=REGISTRY,
)
CALL_DURATION = Histogram(
    "devfactory_call_duration_seconds",
    "Duration of one call (one attempt), by kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
RETRIES = Counter(
    "devfactory_retries", "Attempts after the first, by kind.", ["kind"], registry=REGISTRY
)
RATE_LIMITED = Counter(
    "devfactory_rate_limited",
    "Responses that said 429 rate_limited, by kind.",
    ["kind"],
    registry=REGISTRY,
)
RATE_LIMIT_WAIT = Counter(
    "devfactory_rate_limit_wait_seconds",
    "Seconds spent waiting for a rate limiter's token, by kind.",
    ["kind"],
    registry=REGISTRY,
)
TASKS = Counter(
    "devfactory_tasks",
    "Executor tasks finished, by status (succeeded, failed).",
    ["status"],
    registry=REGISTRY,
)
GATE_DECISIONS = Counter(
    "devfactory_gate_decisions",
    "Gate decisions (allow, halt, deny) and reviews (approved, denied, expired).",
    ["decision"],
    registry=REGISTRY,
)
PENDING_APPROVALS = Gauge(
    "devfactory_gate_pending_approvals",
    "Halted calls waiting for a person.",
    registry=REGISTRY,
)
LOG_LINES = Counter(
    "devfactory_log_lines",
    "Log lines written, by stream and level.",
    ["stream", "level"],
    registry=REGISTRY,
)
LOG_DROPPED = Counter(
    "devfactory_log_lines_dropped",
    "Log lines a sink could not keep up with and dropped, by sink.",
    ["sink"],
    registry=REGISTRY,
)
EVENTS_DROPPED = Counter(
    "devfactory_events_dropped",
    "Events dropped from a slow subscriber's full queue (oldest first), by bus.",
    ["bus"],
    registry=REGISTRY,
)

for _kind in ("notion", "tool"):
    for _outcome in ("ok", "client_error", "server_error", "no_answer"):
        CALLS.labels(_kind, _outcome)
    CALL_DURATION.labels(_kind)
    RETRIES.labels(_kind)
    RATE_LIMITED.labels(_kind)
    RATE_LIMIT_WAIT.labels(_kind)
for _decision in ("allow", "halt", "deny", "approved", "denied", "expired"):
    GATE_DECISIONS.labels(_decision)
for _status in ("succeeded", "failed"):
    TASKS.labels(_status)


def outcome_of(status: int | None) -> str:
    """The ``outcome`` label for an HTTP status (``None``: no answer came)."""
    if status is None:
        return "no_answer"
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "client_error"
    return "ok"


class ProcessCollector(Collector):
    """CPU seconds, CPU percent, resident memory and threads of this process (psutil)."""

    def __init__(self) -> None:
        self._process = psutil.Process(os.getpid())
        self._process.cpu_percent(None)  # the first reading primes the counter

    def collect(self) -> Iterator[Any]:
        with self._process.oneshot():
            times = self._process.cpu_times()
            memory = self._process.memory_info()
            threads = self._process.num_threads()
        cpu = CounterMetricFamily(
            "devfactory_process_cpu_seconds", "User and system CPU time of the process."
        )
        cpu.add_metric([], times.user + times.system)
        yield cpu
        percent = GaugeMetricFamily(
            "devfactory_process_cpu_ratio",
            "CPU use of the process since the last scrape (1.0 = one core busy).",
        )
        percent.add_metric([], self._process.cpu_percent(None) / 100.0)
        yield percent
        rss = GaugeMetricFamily(
            "devfactory_process_resident_memory_bytes", "Resident memory of the process."
        )
        rss.add_metric([], float(memory.rss))
        yield rss
        count = GaugeMetricFamily("devfactory_process_threads", "Threads of the process.")
        count.add_metric([], float(threads))
        yield count

    def describe(self) -> Iterable[Any]:
        return []


REGISTRY.register(ProcessCollector())


def render() -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(REGISTRY)


def metrics_app() -> Any:
    """An ASGI app serving the registry (mount it at ``/metrics``; honours gzip)."""
    return make_asgi_app(registry=REGISTRY)
