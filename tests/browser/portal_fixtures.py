"""A dashboard serving the client portal of a really deployed consulting example.

``portal_server`` (per test): a local Notion server on a SQLite file, the example applied to
it by the deploy engine, Northwind Traders (client, project and one task) turned ``Portal`` so
a second client has visible data, and the dashboard with the portal configured, served by
uvicorn in a thread. The deploy's ``asyncio.run`` happens in a worker thread: Playwright's
sync API keeps a loop marked running in the main thread (see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import notion_client
import pytest
from pydantic import SecretStr

from devfactory.config import Settings
from devfactory.db import Database
from devfactory.deploy.engine import ApplyOptions, apply_workspace, load_workspace
from devfactory.deploy.state import State, StateFile
from devfactory.emulator.testing import LocalNotion
from devfactory.notion.target import resolve_target
from devfactory.obs import log
from devfactory.obs.events import MemoryBus
from devfactory.web import create_app
from devfactory.web.portal_keys import PortalKeys
from devfactory.web.portal_reader import PortalConfig
from devfactory.web.portal_routes import configure_portal
from tests.conftest import TOKEN
from tests.serving import app_server, serving

SPEC = Path(__file__).resolve().parents[2] / "examples" / "consulting" / "workspace.yaml"


@dataclass
class PortalServer:
    """The served dashboard, the deploy state, and one portal key per portal client."""

    url: str
    state: State
    keys: dict[str, str]

    def id(self, database: str, title: str) -> str:
        return self.state.databases[database].rows[title].page_id


def _deploy(notion: LocalNotion, settings: Settings) -> State:
    _, ws = load_workspace(SPEC, None)
    target = resolve_target(settings, notion.base_url)
    options = ApplyOptions(auto_approve=True, verify=False)
    with ThreadPoolExecutor(1) as pool:
        report = pool.submit(
            asyncio.run, apply_workspace(ws, target, settings.home, options)
        ).result()
    assert report.error is None
    return StateFile(settings.home, ws.workspace, ws.environment).load(target.label)


@pytest.fixture
def portal_server(tmp_path: Path) -> Iterator[PortalServer]:
    """The example deployed, Northwind made a portal client, the portal served."""
    with LocalNotion.start(path=tmp_path / "notion.db", token=TOKEN) as notion:
        settings = Settings(
            home=tmp_path / "home", emulator_token=SecretStr(notion.token), notion_rate=1000
        )
        state = _deploy(notion, settings)
        official = notion_client.Client(auth=notion.token, base_url=notion.base_url, retry=False)
        try:
            for database, title in [
                ("clients", "Northwind Traders"),
                ("projects", "Northwind Replatform"),
                ("tasks", "Design checkout flow"),
            ]:
                official.pages.update(
                    state.databases[database].rows[title].page_id,
                    properties={"Visibility": {"select": {"name": "Portal"}}},
                )
        finally:
            official.close()
        store = Database(settings.store_url)
        log.configure(logs_dir=None, sinks=[log.MemorySink()], level="debug")
        app = create_app(settings, store=store, bus=MemoryBus())
        configure_portal(app, PortalConfig(workspace="consulting", target_url=notion.base_url))
        keys = {
            client: PortalKeys(store).create(
                client,
                client_id=state.databases["clients"].rows[client].page_id,
                client_name=client,
                workspace="consulting",
                environment="default",
            )
            for client in ("Acme Corp", "Northwind Traders")
        }
        try:
            with serving(app_server(app), what="the portal") as port:
                yield PortalServer(f"http://127.0.0.1:{port}", state, keys)
        finally:
            log.shutdown()
            store.close()
