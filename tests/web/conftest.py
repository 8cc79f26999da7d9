"""A live dashboard on loopback for the web tests: uvicorn in a thread, a tmp store and home.

Web tests that stream run on asyncio through anyio's pytest plugin (``@pytest.mark.anyio``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from devfactory.config import Settings
from devfactory.db import Database
from devfactory.obs import log
from devfactory.obs.events import MemoryBus
from devfactory.web import create_app
from devfactory.web.context import WebContext
from tests.serving import app_server, serving


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Dashboard:
    """A started dashboard and what a test may look at."""

    port: int
    home: Path
    store: Database
    bus: MemoryBus
    ctx: WebContext
    sink: log.MemorySink
    keys: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(
        self, role: str | None = None, *, key: str | None = None, **kwargs: Any
    ) -> httpx.Client:
        """A client with the bearer key of ``role`` or ``key`` (neither: no key)."""
        bearer = key or (self.keys[role] if role else None)
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10, **kwargs)

    def write_logs(self, *records: dict[str, Any]) -> None:
        """Store log records as the log writer would."""
        self.ctx.logs.write([(orjson.dumps(r), r) for r in records])

    def audit(self) -> list[dict[str, Any]]:
        return self.sink.records("audit")


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[Dashboard]:
    """A dashboard with one key per role: admin, operator, viewer."""
    home = tmp_path / "home"
    store = Database(f"sqlite:///{home / 'devfactory.db'}")
    bus = MemoryBus()
    sink = log.MemorySink()
    log.configure(logs_dir=None, sinks=[sink], level="debug")
    app = create_app(Settings(home=home), store=store, bus=bus)
    ctx: WebContext = app.state.web
    keys = {role: ctx.keys.create(f"{role}-1", role) for role in ("admin", "operator", "viewer")}
    try:
        with serving(app_server(app), what="the dashboard") as port:
            yield Dashboard(port, home, store, bus, ctx, sink, keys)
    finally:
        log.shutdown()
        store.close()
