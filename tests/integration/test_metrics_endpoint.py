"""GET /metrics on a running local Notion server: no token, both exposition formats."""

from __future__ import annotations

import httpx

import devfactory.obs.events  # noqa: F401  (pre-initialises the events_dropped series)
from devfactory.emulator.context import DEFAULT_VERSION
from devfactory.emulator.testing import LocalNotion
from devfactory.obs.metrics import EVENTS_DROPPED, REGISTRY


def test_metrics_need_no_token(notion: LocalNotion) -> None:
    """Prometheus scrapes /metrics without a token and gets the text format 0.0.4."""
    response = httpx.get(f"{notion.base_url}/metrics")
    assert 200 == response.status_code
    assert "text/plain; version=0.0.4; charset=utf-8" == response.headers["content-type"]
    assert "# TYPE devfactory_process_resident_memory_bytes gauge" in response.text
    assert "\ndevfactory_process_resident_memory_bytes " in response.text
    assert 'devfactory_calls_total{kind="notion",outcome="ok"}' in response.text


def test_metrics_in_openmetrics_when_asked(notion: LocalNotion) -> None:
    """An OpenMetrics Accept header gets OpenMetrics, ending with # EOF."""
    response = httpx.get(
        f"{notion.base_url}/metrics",
        headers={"accept": "application/openmetrics-text; version=1.0.0"},
    )
    assert 200 == response.status_code
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    assert "devfactory_process_resident_memory_bytes" in response.text


def test_metrics_are_gzipped_when_accepted(notion: LocalNotion) -> None:
    """Accept-Encoding: gzip compresses the scrape (httpx decodes it)."""
    response = httpx.get(f"{notion.base_url}/metrics", headers={"accept-encoding": "gzip"})
    assert "gzip" == response.headers.get("content-encoding")
    assert "devfactory_process_threads" in response.text


def test_scrape_reflects_live_values(notion: LocalNotion) -> None:
    """The endpoint serves this process's registry, not a copy made at start-up."""
    before = REGISTRY.get_sample_value("devfactory_events_dropped_total", {"bus": "memory"})
    assert before is not None
    EVENTS_DROPPED.labels("memory").inc(3)
    response = httpx.get(f"{notion.base_url}/metrics")
    assert f'devfactory_events_dropped_total{{bus="memory"}} {before + 3}' in response.text


def test_api_routes_still_need_a_token(notion: LocalNotion) -> None:
    """/v1 without a token is still Notion's 401; other methods on /metrics are unknown URLs."""
    response = httpx.get(
        f"{notion.base_url}/v1/users/me", headers={"notion-version": DEFAULT_VERSION}
    )
    assert 401 == response.status_code
    assert "unauthorized" == response.json()["code"]
    post = httpx.post(f"{notion.base_url}/metrics")
    assert (400, "invalid_request_url") == (post.status_code, post.json()["code"])
