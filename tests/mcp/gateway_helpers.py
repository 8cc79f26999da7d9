"""A real gateway on loopback for tests: uvicorn in a thread, on a free port.

``running_gateway`` serves the given configuration plus in-process servers, with its own
store (SQLite) so approvals can be reviewed by the test, and yields what a client needs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import yaml
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from devfactory.config import Settings
from devfactory.db import Database
from devfactory.gate import Approvals
from devfactory.mcp.config import load_gateway_config
from devfactory.mcp.gateway import Gateway
from devfactory.mcp.hosted import HostedServer
from devfactory.mcp.http import http_app
from devfactory.mcp.wire import uvicorn_server
from tests.serving import serving

TOKEN = "gw-test-token-0123456789abcdef"


@dataclass
class Running:
    """A started gateway: where it listens and what a test may look at."""

    gateway: Gateway
    port: int
    token: str | None
    store: Database

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def approvals(self) -> Approvals:
        return Approvals(self.store)

    @asynccontextmanager
    async def client(self, token: str | None = None, **headers: str) -> AsyncIterator[Client]:
        """An MCP client over Streamable HTTP with the bearer token (or ``token``)."""
        sent = {"Authorization": f"Bearer {token or self.token}", **headers}
        async with (
            httpx2.AsyncClient(headers=sent, timeout=30) as http,
            Client(streamable_http_client(self.url, http_client=http)) as client,
        ):
            yield client


def write_config(path: Path, data: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False))
    return path


@contextmanager
def running_gateway(
    tmp_path: Path,
    config: Mapping[str, Any],
    *,
    servers: Mapping[str, HostedServer] | None = None,
    token: str | None = TOKEN,
    allow_unauthenticated: bool = False,
    environ: Mapping[str, str] | None = None,
    publish: Any = None,
) -> Iterator[Running]:
    data = dict(config)
    if token is not None and "clients" not in data:
        data["clients"] = [{"name": "tester", "token_env": "GW_TEST_TOKEN", "role": "operator"}]
    path = write_config(tmp_path / "gateway.yaml", data)
    settings = Settings(home=tmp_path / "home")
    store = Database(f"sqlite:///{tmp_path / 'store.db'}")
    import os

    saved = {k: os.environ.get(k) for k in ("GW_TEST_TOKEN", *(environ or {}))}
    os.environ["GW_TEST_TOKEN"] = token or ""
    os.environ.update(environ or {})
    try:
        gw = Gateway(
            load_gateway_config(path),
            settings,
            store=store,
            allow_unauthenticated=allow_unauthenticated,
            extra_servers=servers,
            publish=publish,
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        with serving(uvicorn_server(gw, http_app(gw)), what="the gateway") as port:
            yield Running(gw, port, token or gw.keyring.generated, store)
    finally:
        store.close()
