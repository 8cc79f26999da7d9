"""The gateway's configuration file (examples/gateway.yaml), validated with file:line:col.

It names the servers behind the gateway (built-in, a Python entry point, a stdio command or
an HTTP URL) with allow and deny lists, the clients that may connect (each token read from
an environment variable, never from the file), the policy of the confidence gate, and the
listener's limits. Relative paths are relative to the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from devfactory.errors import GatewayConfigError, SpecError
from devfactory.spec.load import Issue, Location, load_spec_data

__all__ = [
    "ClientEntry",
    "GatewayConfig",
    "Limits",
    "ServerEntry",
    "TcpAccess",
    "load_gateway_config",
]

Role = Literal["admin", "operator", "viewer"]
Access = Literal["read", "write", "deploy"]
SERVER_NAME = re.compile(r"^[A-Za-z0-9-]{1,30}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerEntry(_Strict):
    """One server behind the gateway: exactly one of builtin, plugin, command or url."""

    builtin: Literal["filesystem", "notion", "docker"] | None = None
    plugin: str | None = Field(
        default=None, description="A `devfactory.mcp_servers` entry point name."
    )
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment of a stdio server; values `${VAR}` are read from ours.",
    )
    url: str | None = None
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of a built-in or plugin server (roots, spec, env, host, ...).",
    )
    allow: list[str] = Field(default_factory=list, description="Tool globs offered (empty: all).")
    deny: list[str] = Field(default_factory=list, description="Tool globs never offered.")
    timeout: float = Field(default=30.0, gt=0, description="Seconds one call may take.")
    enabled: bool = True

    @model_validator(mode="after")
    def _one_kind(self) -> ServerEntry:
        kinds = [k for k in ("builtin", "plugin", "command", "url") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError(
                "give exactly one of builtin, plugin, command or url"
                + (f" (got {', '.join(kinds)})" if kinds else "")
            )
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("builtin", "plugin", "command", "url") if getattr(self, k))


class ClientEntry(_Strict):
    """A client of the gateway: its token's variable, role and what it may reach."""

    name: str = Field(min_length=1, max_length=60)
    token_env: str = Field(pattern=r"^[A-Z_][A-Z0-9_]*$")
    role: Role = "operator"
    servers: list[str] | None = Field(default=None, description="Servers it may use (all).")
    databases: dict[str, Access] | None = Field(
        default=None, description="Logical Notion database → read, write or deploy (all)."
    )


class TcpAccess(_Strict):
    """Who a raw TCP (socat) session is: it cannot send a token, so it is served only on
    loopback and gets this role."""

    enabled: bool = True
    role: Role = "operator"
    servers: list[str] | None = None
    databases: dict[str, Access] | None = None


class Limits(_Strict):
    """Bounds of the listener."""

    body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    line_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    sessions: int = Field(default=256, gt=0)


class GatewayConfig(_Strict):
    """The whole file (see examples/gateway.yaml and docs/mcp.md)."""

    version: Literal[1] = 1
    host: str = "127.0.0.1"
    port: int = Field(default=8811, ge=0, le=65535)
    policy: Path | None = None
    servers: dict[str, ServerEntry] = Field(default_factory=dict)
    clients: list[ClientEntry] = Field(default_factory=list)
    tcp: TcpAccess = Field(default_factory=TcpAccess)
    limits: Limits = Field(default_factory=Limits)
    secret_patterns: list[str] = Field(
        default_factory=list,
        description="Extra regexes; arguments or results matching one are blocked.",
    )
    elicit_approvals: bool = Field(
        default=True,
        description="Ask the person at a client that supports MCP elicitation to review a "
        "halted call in place. Turn off for clients that answer elicitations without a person.",
    )
    json_response: bool = Field(
        default=True,
        description="Answer Streamable HTTP requests with plain JSON rather than an SSE "
        "stream (cheaper; every client must accept both).",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host headers accepted besides loopback (DNS-rebinding protection).",
    )
    allowed_origins: list[str] = Field(
        default_factory=list, description="Origins accepted besides loopback."
    )
    base_dir: Path = Field(default=Path(), exclude=True)

    @field_validator("servers")
    @classmethod
    def _server_names(cls, servers: dict[str, ServerEntry]) -> dict[str, ServerEntry]:
        for name in servers:
            if not SERVER_NAME.fullmatch(name):
                raise ValueError(
                    f"server name {name!r}: use letters, digits and '-' (at most 30), so that "
                    "`<server>__<tool>` stays a valid tool name"
                )
        return servers

    @model_validator(mode="after")
    def _names(self) -> GatewayConfig:
        known = set(self.servers)
        for client in self.clients:
            for server in client.servers or []:
                if server not in known:
                    raise ValueError(f"client {client.name!r} names unknown server {server!r}")
        return self

    def path(self, value: Path | str) -> Path:
        """``value`` relative to the configuration file (``~`` expanded)."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path


def load_gateway_config(path: Path) -> GatewayConfig:
    """Read and validate the file; :class:`GatewayConfigError` lists every problem."""
    try:
        loaded = load_spec_data(path)
    except SpecError as exc:
        raise GatewayConfigError(exc.issues) from None
    data = dict(loaded.data)
    data["base_dir"] = path.resolve().parent
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if isinstance(p, str | int))
            where = loaded.source.locate(loc) or Location(str(path), 1, 1)
            field = ".".join(str(p) for p in loc) or "(top)"
            message = error["msg"].removeprefix("Value error, ")
            issues.append(Issue(where, f"{field}: {message}"))
        raise GatewayConfigError(issues) from None
