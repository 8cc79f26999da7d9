"""GET /api/v1/drift: the deployed example is in sync; a change made in Notion behind
devfactory's back shows as drift on its database after a refresh, not before (cache)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import notion_client
import pytest

from devfactory.config import Settings
from devfactory.db import Database
from devfactory.emulator.testing import LocalNotion
from devfactory.obs.events import MemoryBus
from devfactory.web import create_app
from devfactory.web.drift import DriftChecker, Watched, configure_drift
from tests.mcp.test_gateway_e2e import SPEC, deployed  # noqa: F401  (a fixture)
from tests.serving import app_server, serving


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def drift_api(
    deployed: tuple[LocalNotion, Settings, str],  # noqa: F811
    tmp_path: Path,
) -> Iterator[tuple[httpx.Client, LocalNotion, str, DriftChecker, Clock]]:
    notion, settings, clients_ds = deployed
    store = Database(f"sqlite:///{tmp_path / 'web.db'}")
    app = create_app(settings, store=store, bus=MemoryBus())
    checker = configure_drift(
        app,
        [Watched(SPEC, None, notion.base_url), Watched(SPEC, "staging", notion.base_url)],
    )
    clock = Clock()
    checker.clock = clock
    key = app.state.web.keys.create("viewer-1", "viewer")
    try:
        with (
            serving(app_server(app), what="the dashboard") as port,
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            ) as client,
        ):
            yield client, notion, clients_ds, checker, clock
    finally:
        store.close()


def test_drift_is_in_sync_then_shows_a_change_made_in_notion(
    drift_api: tuple[httpx.Client, LocalNotion, str, DriftChecker, Clock],
) -> None:
    client, notion, clients_ds, _, clock = drift_api
    first = client.get("/api/v1/drift")
    assert first.status_code == 200, first.text
    entries = {e["env"]: e for e in first.json()["drift"]}
    assert set(entries) == {"default", "staging"}
    default = entries["default"]
    assert (default["in_sync"], default["changes"], default["error"]) == (True, [], None)
    assert default["workspace"] and default["checked_at"].endswith("Z")
    staging = entries["staging"]
    assert staging["in_sync"] is None and "not deployed" in staging["error"]

    # Someone renames a property in Notion, behind devfactory's back.
    with notion_client.Client(auth=notion.token, base_url=notion.base_url) as api:
        source = api.data_sources.retrieve(data_source_id=clients_ds)
        name = next(n for n, p in source["properties"].items() if p["type"] == "rich_text")
        api.data_sources.update(
            data_source_id=clients_ds, properties={name: {"name": f"{name} (renamed by hand)"}}
        )

    cached = client.get("/api/v1/drift").json()["drift"]
    assert next(e for e in cached if e["env"] == "default")["in_sync"] is True  # within the TTL

    clock.now += 120  # past the TTL: checked again
    later = next(e for e in client.get("/api/v1/drift").json()["drift"] if e["env"] == "default")
    assert later["in_sync"] is False
    assert any(c["database"] == "clients" for c in later["changes"]), later["changes"]
    assert any(name in c["detail"] for c in later["changes"]), later["changes"]


def test_drift_refresh_checks_now_and_needs_a_key(
    drift_api: tuple[httpx.Client, LocalNotion, str, DriftChecker, Clock],
) -> None:
    client, _, _, checker, _ = drift_api
    client.get("/api/v1/drift")
    stamp = checker._cache[0] if checker._cache else None
    checker.clock = lambda: 1000.5  # type: ignore[method-assign]  # still within the TTL
    client.get("/api/v1/drift", params={"refresh": "true"})
    assert checker._cache is not None and checker._cache[0] != stamp
    anonymous = httpx.get(client.base_url.join("/api/v1/drift"), timeout=10)
    assert anonymous.status_code == 401


def test_nothing_watched_is_an_empty_list(tmp_path: Path) -> None:
    store = Database(f"sqlite:///{tmp_path / 'web.db'}")
    app = create_app(Settings(home=tmp_path / "home"), store=store, bus=MemoryBus())
    key = app.state.web.keys.create("admin-1", "admin")
    try:
        with serving(app_server(app), what="the dashboard") as port:
            answer = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/drift",
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            )
        assert answer.status_code == 200 and answer.json() == {"drift": []}
    finally:
        store.close()
