"""``devfactory mcp filesystem | notion | docker``: one MCP server over stdio.

Each runs alone for a desktop client's ``command`` entry; the gateway (``devfactory
gateway``) hosts the same servers in its process behind authentication and the gate.
Nothing but JSON-RPC goes to stdout: banners and logs go to stderr.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import typer

from devfactory.cli.options import ENV_OPTION, TARGET_OPTION
from devfactory.config import load_settings
from devfactory.mcp.hosted import HostedServer

__all__ = ["app"]

app = typer.Typer(help="Run one of devfactory's MCP servers over stdio.", no_args_is_help=True)


def _serve(hosted: HostedServer) -> None:
    async def run() -> None:
        try:
            await hosted.server.run_stdio_async()
        finally:
            if hosted.close is not None:
                await hosted.close()

    anyio.run(run)


@app.command("filesystem")
def filesystem(
    root: list[Path] = typer.Option(
        ...,
        "--root",
        help="A directory the agent may use (repeatable); nothing outside the roots is reachable.",
    ),
) -> None:
    """Files under the given roots: the reference server's tools, without its escapes."""
    from devfactory.mcp.filesystem import hosted

    _serve(hosted(root))


@app.command("notion")
def notion(
    spec: Path | None = typer.Option(
        None, "--spec", help="The workspace spec: logical database names and schemas."
    ),
    env: str | None = ENV_OPTION,
    target: str | None = TARGET_OPTION,
) -> None:
    """The Notion workspace in its own terms: databases by name, plain values, markdown."""
    from devfactory.mcp.notion import hosted

    _serve(hosted(load_settings(), spec, env, target))


@app.command("docker")
def docker(
    host: str | None = typer.Option(
        None, "--host", help="Docker Engine API URL [default: $DOCKER_HOST or the local socket]."
    ),
) -> None:
    """Containers and images through the Docker Engine API."""
    from devfactory.mcp.docker import hosted

    _serve(hosted(host))
