"""A real MCP gateway next to the dashboard, for browser tests: calls made through it show
up in the dashboard as they would in production.

``gateway`` (per test, needs ``web_server``) builds the gateway the way ``devfactory gateway``
does — :func:`~devfactory.mcp.config.load_gateway_config` on a YAML file,
:class:`~devfactory.mcp.gateway.Gateway`, :func:`~devfactory.mcp.http.http_app` under
:func:`~devfactory.mcp.wire.uvicorn_server` — and serves it with uvicorn in a thread on a
free loopback port. It shares the dashboard's collaborators:

- the **store**: the gate records halted calls in the dashboard's approvals table, so
  ``GET /api/v1/approvals`` lists them and ``POST /api/v1/approvals/{id}/approve`` releases
  them;
- the **log store**: every log line (one ``mcp.call`` audit line per call) is written to the
  dashboard's log store by a :class:`~devfactory.obs.logstore.BatchWriter`, as the CLI's
  commands do, so ``GET /api/v1/logs/tail`` shows it;
- the **event bus**: the gateway publishes ``operation_started`` / ``operation_finished`` /
  ``gate_halted`` on the dashboard's bus, so ``/api/v1/events`` streams them.

Behind it is the built-in filesystem server on a tmp root (:attr:`LiveGateway.root`) with
``examples/policy.yaml`` plus one rule: ``filesystem__move_file`` counts as destructive, so a
move halts for a person (as does a write inside ``.git``, by the example policy itself).
Reads run.

:func:`call_tool` makes one call with the official MCP client (Streamable HTTP +
``ClientSession``) in a worker thread: Playwright's sync API keeps an event loop marked
running in the main thread, so no ``asyncio.run`` may happen there (see conftest).

Example::

    from tests.browser.gateway import LiveGateway, call_tool

    def test_x(page: Page, gateway: LiveGateway) -> None:  # the fixture is in conftest
        result = call_tool(gateway.url, gateway.token, "filesystem__list_directory",
                           {"path": str(gateway.root)})
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import mcp_types as types
import pytest
import yaml
from mcp.client.streamable_http import streamable_http_client

from devfactory.config import Settings
from devfactory.mcp.config import load_gateway_config
from devfactory.mcp.gateway import Gateway
from devfactory.mcp.http import http_app
from devfactory.mcp.wire import uvicorn_server
from devfactory.obs import log
from devfactory.obs.logstore import BatchWriter
from mcp import ClientSession
from tests.serving import serving

if TYPE_CHECKING:
    from tests.browser.conftest import WebServer

__all__ = ["TOKEN", "TOKEN_ENV", "LiveGateway", "call_tool", "gateway", "text_of"]

TOKEN = "gw-browser-token-0123456789abcdef"
TOKEN_ENV = "DEVFACTORY_BROWSER_GW_TOKEN"
CLIENT = "browser-agent"
EXAMPLE_POLICY = Path(__file__).resolve().parents[2] / "examples" / "policy.yaml"
MOVES_HALT = {
    "name": "moves in the test root wait for a person",
    "match": "filesystem__move_file",
    "risk": "destructive",
}


@dataclass
class LiveGateway:
    """A gateway started for one test, sharing ``web``'s store, log store and bus."""

    url: str
    """The Streamable HTTP endpoint (``http://127.0.0.1:PORT/mcp``)."""
    token: str
    """The bearer token of the ``browser-agent`` client (role operator)."""
    root: Path
    """The filesystem server's only root (empty at the start)."""
    gateway: Gateway
    web: WebServer
    sink: BatchWriter
    """Writes every log line into the dashboard's log store; ``flush()`` to wait for it."""


def gateway_config(tmp_path: Path, root: Path) -> Path:
    """The gateway's YAML (and its policy file next to it), as a user would write them."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    policy = yaml.safe_load(EXAMPLE_POLICY.read_text())
    policy["rules"].append(MOVES_HALT)
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(policy, sort_keys=False))
    config = {
        "version": 1,
        "policy": policy_path.name,
        "servers": {"filesystem": {"builtin": "filesystem", "options": {"roots": [str(root)]}}},
        "clients": [{"name": CLIENT, "token_env": TOKEN_ENV, "role": "operator"}],
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def gateway(
    web_server: WebServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveGateway]:
    """A real gateway on loopback that reports to ``web_server``'s store, logs and bus."""
    root = tmp_path / "gateway-root"
    root.mkdir()
    home = tmp_path / "gateway-home"
    config = load_gateway_config(gateway_config(tmp_path / "gateway-config", root))
    # log lines go to the dashboard's log store (the MemorySink of web_server stays, for
    # tests that read records); web_server's teardown flushes and closes both.
    sink = BatchWriter(web_server.ctx.logs, flush_interval=0.05)
    log.configure(logs_dir=None, sinks=[log.MemorySink(), sink], level="debug")
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    gw = Gateway(
        config, Settings(home=home), store=web_server.store, publish=web_server.bus.publish
    )
    with serving(uvicorn_server(gw, http_app(gw)), what="the gateway") as port:
        yield LiveGateway(f"http://127.0.0.1:{port}/mcp", TOKEN, root, gw, web_server, sink)
    sink.flush()


async def _call(url: str, token: str, tool: str, arguments: dict[str, Any]) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return await session.call_tool(tool, arguments)


def call_tool(
    gateway_url: str, token: str, tool: str, arguments: dict[str, Any], *, timeout: float = 60
) -> types.CallToolResult:
    """One ``tools/call`` through the gateway by the official MCP client, in a fresh session;
    blocks until the answer. Runs ``asyncio.run`` in a worker thread, so it is safe to call
    while Playwright is up. A halted call is an error result, not an exception."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mcp-client") as pool:
        future = pool.submit(asyncio.run, _call(gateway_url, token, tool, arguments))
        result = future.result(timeout=timeout)
    assert isinstance(result, types.CallToolResult), result
    return result


def text_of(result: types.CallToolResult) -> str:
    """The text blocks of a result, joined."""
    return "".join(getattr(block, "text", "") for block in result.content)
