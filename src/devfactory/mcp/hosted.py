"""What an in-process MCP server hands the gateway: the server, and how to judge a call.

The gateway runs every call through the confidence gate before the server sees it. Some
signals need facts only the server can find cheaply (how many rows a trash would remove,
whether a title names one page or several, how many files a move takes along), so a server
may offer ``assess(tool, arguments)``: a read-only look that returns the gate's call
context (``affected``, ``matches``, ``candidates``, ``validation_errors``, ``has_backup``,
``drift``; see docs/gate.md). It must never change anything and should be fast.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mcp.server import MCPServer

__all__ = ["Assess", "HostedServer"]

Assess = Callable[[str, Mapping[str, Any]], Awaitable[dict[str, Any]]]
"""``await assess(tool, arguments)`` → gate context for that call (read-only, fast)."""


@dataclass
class HostedServer:
    """An SDK server run in the gateway's process (or alone over stdio)."""

    name: str
    server: MCPServer
    assess: Assess | None = None
    close: Callable[[], Awaitable[None]] | None = None
