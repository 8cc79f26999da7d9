"""The servers behind the gateway, each held open through one long-lived MCP ``Client``.

A server is built in (filesystem, notion, docker: run in this process), a plugin (a
``devfactory.mcp_servers`` entry point returning a :class:`HostedServer`), a stdio command
or a Streamable HTTP URL. Each runs under a supervisor task that connects, lists the tools,
and reconnects with back-off when the connection fails; meanwhile its tools answer that the
server is unavailable instead of hanging.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from devfactory.config import Settings
from devfactory.errors import ConfigError, UserError
from devfactory.mcp import names
from devfactory.mcp.config import GatewayConfig, ServerEntry
from devfactory.mcp.hosted import HostedServer
from devfactory.obs.log import get_logger

__all__ = ["ENTRY_POINT_GROUP", "Route", "Upstream", "build_upstreams"]

ENTRY_POINT_GROUP = "devfactory.mcp_servers"
_log = get_logger("gateway")
_CHILD_ENV = ("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG")


@dataclass(frozen=True, slots=True)
class Route:
    """One tool as the gateway offers it, and where it goes."""

    server: str
    tool: str  # the downstream server's own name
    exposed: str  # ``server__tool``
    definition: types.Tool  # as listed to clients (exposed name)
    annotations: Mapping[str, Any]
    timeout: float

    @property
    def read_only(self) -> bool:
        return bool(self.annotations.get("readOnlyHint", False))

    @property
    def idempotent(self) -> bool:
        return self.read_only or bool(self.annotations.get("idempotentHint", False))


@dataclass
class Upstream:
    """One server behind the gateway and its live client (None while disconnected)."""

    name: str
    entry: ServerEntry
    target: Any  # what ``Client`` connects to: an MCPServer, StdioServerParameters or URL
    hosted: HostedServer | None = None
    client: Client | None = None
    routes: dict[str, Route] = field(default_factory=dict)
    error: str | None = None
    ready: anyio.Event = field(default_factory=anyio.Event)
    _stop: anyio.Event = field(default_factory=anyio.Event)

    async def supervise(self) -> None:
        """Connect, list tools, hold the connection; reconnect after failures."""
        if self.target is None:  # it could not even be built; ``error`` says why
            self.ready.set()
            return
        delay = 0.5
        while not self._stop.is_set():
            try:
                async with Client(self.target, read_timeout_seconds=self.entry.timeout) as client:
                    self.routes = await self._list(client)
                    self.client, self.error, delay = client, None, 0.5
                    _log.info("gateway.server_connected", server=self.name, tools=len(self.routes))
                    self.ready.set()
                    await self._stop.wait()
            except Exception as exc:  # any failure of a downstream server: report, retry
                self.error = f"{type(exc).__name__}: {exc}"
                _log.warning("gateway.server_unavailable", server=self.name, error=self.error)
            finally:
                self.client = None
            self.ready.set()
            if not self._stop.is_set():
                with anyio.move_on_after(delay):
                    await self._stop.wait()
                delay = min(delay * 2, 30.0)

    async def stop(self) -> None:
        self._stop.set()
        if self.hosted is not None and self.hosted.close is not None:
            await self.hosted.close()

    async def _list(self, client: Client) -> dict[str, Route]:
        routes: dict[str, Route] = {}
        cursor: str | None = None
        while True:
            page = await client.list_tools(cursor=cursor)
            for tool in page.tools:
                if not names.offered(tool.name, self.entry.allow, self.entry.deny):
                    continue
                exposed = names.exposed_name(self.name, tool.name)
                annotations = (
                    tool.annotations.model_dump(by_alias=True, exclude_none=True)
                    if tool.annotations is not None
                    else {}
                )
                definition = tool.model_copy(update={"name": exposed})
                routes[exposed] = Route(
                    self.name, tool.name, exposed, definition, annotations, self.entry.timeout
                )
            cursor = page.next_cursor
            if not cursor:
                return routes

    async def assess(self, tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The server's read-only look at a call for the gate ({} when it offers none)."""
        if self.hosted is None or self.hosted.assess is None:
            return {}
        return await self.hosted.assess(tool, arguments)


def _builtin(
    kind: str, options: Mapping[str, Any], config: GatewayConfig, settings: Settings
) -> HostedServer:
    if kind == "filesystem":
        from devfactory.mcp.filesystem import hosted as filesystem

        roots = options.get("roots") or []
        if not isinstance(roots, list) or not roots:
            raise ConfigError("the filesystem server needs options.roots: a list of directories")
        return filesystem([config.path(str(root)) for root in roots])
    if kind == "notion":
        from devfactory.mcp.notion import hosted as notion

        spec = options.get("spec")
        return notion(
            settings,
            config.path(str(spec)) if spec else None,
            options.get("env"),
            options.get("target"),
        )
    from devfactory.mcp.docker import hosted as docker

    return docker(options.get("host"))


def _plugin(name: str, options: Mapping[str, Any], settings: Settings) -> HostedServer:
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        raise ConfigError(f"no {ENTRY_POINT_GROUP} entry point named {name!r} is installed")
    factory = found[0].load()
    hosted = factory(options, settings)
    if not isinstance(hosted, HostedServer):
        raise ConfigError(f"entry point {name!r} did not return a HostedServer")
    return hosted


def build_upstreams(config: GatewayConfig, settings: Settings) -> list[Upstream]:
    """An :class:`Upstream` for every enabled server of ``config`` (not connected yet)."""
    upstreams = []
    for name, entry in config.servers.items():
        if not entry.enabled:
            continue
        hosted: HostedServer | None = None
        target: Any
        if entry.builtin is not None or entry.plugin is not None:
            try:
                if entry.builtin is not None:
                    hosted = _builtin(entry.builtin, entry.options, config, settings)
                else:
                    hosted = _plugin(str(entry.plugin), entry.options, settings)
            except UserError as exc:  # one misconfigured server must not stop the others
                _log.warning("gateway.server_unavailable", server=name, error=str(exc))
                upstreams.append(Upstream(name, entry, None, error=str(exc)))
                continue
            target = hosted.server
        elif entry.command is not None:
            env = {k: os.environ[k] for k in _CHILD_ENV if k in os.environ}
            env.update(entry.env)
            cwd = config.base_dir
            target = StdioServerParameters(
                command=entry.command, args=list(entry.args), env=env, cwd=Path(cwd)
            )
        else:
            target = entry.url
        upstreams.append(Upstream(name, entry, target, hosted))
    return upstreams
