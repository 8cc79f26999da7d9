"""A small real MCP server for gateway tests: notes in memory, one tool of each kind.

Run alone over stdio with ``python -m tests.mcp.notes_server`` (the gateway's stdio
upstream tests do); in-process through :func:`hosted`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from devfactory.mcp.hosted import HostedServer


def build() -> tuple[MCPServer, dict[str, str]]:
    """The server and its notes (shared, so a test can look at what calls did)."""
    notes: dict[str, str] = {"welcome": "hello"}
    server = MCPServer("notes")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    def read_note(name: str) -> str:
        """Read the note called ``name``."""
        if name not in notes:
            raise ToolError(f"no note {name!r}")
        return notes[name]

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    def list_notes() -> list[str]:
        """Names of every note."""
        return sorted(notes)

    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        )
    )
    def write_note(name: str, text: str) -> str:
        """Write (or overwrite) the note called ``name``."""
        notes[name] = text
        return f"wrote {name}"

    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=True, open_world_hint=False
        )
    )
    def delete_note(name: str) -> str:
        """Delete the note called ``name`` (it cannot be undone)."""
        notes.pop(name, None)
        return f"deleted {name}"

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    def leak(kind: str = "notion") -> str:
        """Return text that holds a secret-looking token (to test result blocking)."""
        return "the key is ntn_" + "a1" * 20 if kind == "notion" else "nothing here"

    return server, notes


def hosted() -> tuple[HostedServer, dict[str, str]]:
    server, notes = build()

    async def assess(tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        if tool == "delete_note":
            return {"affected": 1, "has_backup": False}
        return {}

    return HostedServer("notes", server, assess=assess), notes


if __name__ == "__main__":
    build()[0].run()


def plugin(options: Mapping[str, Any], settings: Any) -> HostedServer:
    """The ``devfactory.mcp_servers`` entry point form: ``(options, settings) -> HostedServer``."""
    served, notes = hosted()
    notes.update({str(k): str(v) for k, v in options.get("seed", {}).items()})
    return served
