"""The Prometheus registry: naming conventions, pre-initialised series, process metrics."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

import devfactory.obs.events  # noqa: F401  (pre-initialises the events_dropped series)
from devfactory.obs.metrics import CALL_DURATION, REGISTRY, outcome_of, render

# Label names allowed on any devfactory metric: small fixed sets, never ids or paths.
BOUNDED_LABELS = {"kind", "outcome", "status", "decision", "stream", "level", "sink", "bus"}


def types_in(text: str) -> dict[str, str]:
    """Metric name -> type, from the ``# TYPE`` lines of a text exposition."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE))


def sample_names(text: str) -> set[str]:
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}


def test_every_name_has_the_devfactory_prefix() -> None:
    """Every family and every sample in a scrape starts with devfactory_."""
    text = render().decode()
    assert types_in(text)
    assert all(name.startswith("devfactory_") for name in types_in(text))
    assert all(name.startswith("devfactory_") for name in sample_names(text))


def test_counters_are_exposed_with_total() -> None:
    """Every counter's exposed name ends in _total (the _created gauges aside)."""
    text = render().decode()
    counters = [name for name, kind in types_in(text).items() if kind == "counter"]
    assert "devfactory_calls_total" in counters
    assert "devfactory_process_cpu_seconds_total" in counters
    assert all(name.endswith("_total") for name in counters)
    assert not [name for name in sample_names(text) if name.endswith("_total_total")]


def test_histograms_have_bucket_sum_and_count() -> None:
    """Each histogram exposes cumulative _bucket{le} series ending at +Inf, plus _sum and _count."""
    CALL_DURATION.labels("tool").observe(0.07)
    families = {f.name: f for f in text_string_to_metric_families(render().decode())}
    histograms = [f for f in families.values() if f.type == "histogram"]
    assert "devfactory_call_duration_seconds" in [f.name for f in histograms]
    for family in histograms:
        suffixes = {s.name.removeprefix(family.name) for s in family.samples}
        assert {"_bucket", "_sum", "_count"} <= suffixes
    buckets = {
        s.labels["le"]: s.value
        for s in families["devfactory_call_duration_seconds"].samples
        if s.name.endswith("_bucket") and s.labels["kind"] == "tool"
    }
    assert "+Inf" in buckets
    assert buckets["0.1"] - buckets["0.05"] >= 1  # the 0.07 s call lands between them
    assert list(buckets.values()) == sorted(buckets.values())  # cumulative


def test_labels_come_from_small_fixed_sets() -> None:
    """No metric is labelled by anything but the bounded label names (and le)."""
    for family in REGISTRY.collect():
        for sample in family.samples:
            assert set(sample.labels) - {"le"} <= BOUNDED_LABELS, sample.name


def test_series_are_pre_initialised_at_zero() -> None:
    """A fresh process scrapes every known label combination, at zero, before any use."""
    script = (
        "import devfactory.obs.events\n"
        "from devfactory.obs.metrics import render\n"
        "print(render().decode())"
    )
    text = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return values[(name, tuple(sorted(labels.items())))]

    for kind in ("notion", "tool"):
        for outcome in ("ok", "client_error", "server_error", "no_answer"):
            assert 0 == value("devfactory_calls_total", kind=kind, outcome=outcome)
        assert 0 == value("devfactory_call_duration_seconds_count", kind=kind)
        assert 0 == value("devfactory_call_duration_seconds_bucket", kind=kind, le="+Inf")
        assert 0 == value("devfactory_retries_total", kind=kind)
        assert 0 == value("devfactory_rate_limited_total", kind=kind)
        assert 0 == value("devfactory_rate_limit_wait_seconds_total", kind=kind)
    for decision in ("allow", "halt", "deny", "approved", "denied", "expired"):
        assert 0 == value("devfactory_gate_decisions_total", decision=decision)
    for status in ("succeeded", "failed"):
        assert 0 == value("devfactory_tasks_total", status=status)
    for bus in ("memory", "redis"):
        assert 0 == value("devfactory_events_dropped_total", bus=bus)
    assert 0 == value("devfactory_gate_pending_approvals")


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (None, "no_answer"),
        (200, "ok"),
        (204, "ok"),
        (302, "ok"),
        (400, "client_error"),
        (404, "client_error"),
        (429, "client_error"),
        (499, "client_error"),
        (500, "server_error"),
        (503, "server_error"),
    ],
)
def test_outcome_of(status: int | None, outcome: str) -> None:
    """HTTP statuses map onto the four outcome label values."""
    assert outcome == outcome_of(status)


def test_process_collector() -> None:
    """The process metrics report positive CPU seconds, resident memory and threads."""
    sum(i * i for i in range(100_000))  # make sure some CPU time has been spent
    cpu = REGISTRY.get_sample_value("devfactory_process_cpu_seconds_total")
    rss = REGISTRY.get_sample_value("devfactory_process_resident_memory_bytes")
    threads = REGISTRY.get_sample_value("devfactory_process_threads")
    ratio = REGISTRY.get_sample_value("devfactory_process_cpu_ratio")
    assert cpu is not None and cpu > 0
    assert rss is not None and rss > 1_000_000
    assert threads is not None and threads >= 1
    assert ratio is not None and ratio >= 0
