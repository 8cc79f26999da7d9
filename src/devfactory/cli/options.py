"""What the deploy and backup commands share: their options, and finding the state to act on."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import typer
from rich.console import Console

from devfactory.config import Settings
from devfactory.deploy.engine import load_workspace
from devfactory.deploy.state import StateFile
from devfactory.errors import UserError

__all__ = [
    "ENV_OPTION",
    "SPEC_ARG",
    "TARGET_OPTION",
    "existing",
    "listen",
    "quiet_server",
    "serve_all_until_stopped",
    "serve_until_stopped",
    "state_file_for",
]

SPEC_ARG = typer.Argument(..., exists=False, help="The workspace spec (YAML).")
ENV_OPTION = typer.Option(
    None, "--env", "-e", help="Environment: applies <spec>.<env>.yaml and environments.<env>."
)
TARGET_OPTION = typer.Option(
    None,
    "--target",
    metavar="URL",
    help="A running local Notion server (URL). Default: NOTION_TOKEN's Notion, or the embedded server.",
)


def existing(path: Path) -> Path:
    """``path``, or a clear error when there is no such file."""
    if not path.exists():
        raise UserError(f"{path}: no such file")
    return path


def state_file_for(
    settings: Settings, spec: Path | None, workspace: str | None, env: str | None
) -> StateFile:
    """The deploy state to act on: the spec's, --workspace's, or the only one there is."""
    if spec is not None:
        _, ws = load_workspace(existing(spec), env)
        return StateFile(settings.home, ws.workspace, ws.environment)
    if workspace is not None:
        return StateFile(settings.home, workspace, env or "default")
    states = sorted((settings.home / "state").glob("*.json"))
    if len(states) != 1:
        raise UserError(
            f"name the workspace: give SPEC or --workspace (there are {len(states)} states "
            f"in {settings.home / 'state'})"
        )
    name, environment = states[0].name.removesuffix(".json").rsplit(".", 1)
    return StateFile(settings.home, name, environment)


def listen(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket for a server command (port 0 picks a free one); a clear
    error when the address is taken or not ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this; without it small replies wait on delayed ACKs.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(backlog)
    return sock


def quiet_server(app: Any) -> Any:
    """A uvicorn server for an ASGI ``app`` as devfactory's servers run it: warnings only, no
    access log (the app audits its own requests), lifespan on, 5 s to stop gracefully, and
    asyncio's loop (so several servers can share one, see :func:`serve_all_until_stopped`)."""
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        loop="asyncio",
    )
    return uvicorn.Server(config)


class _Stopped(Exception):
    """SIGTERM or SIGINT after uvicorn's graceful shutdown (it re-raises what it caught)."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


def serve_until_stopped(server: Any, sock: socket.socket, out: Console, stopped: str) -> None:
    """Run a uvicorn ``server`` on ``sock`` until SIGTERM or SIGINT, then print ``stopped``.

    uvicorn shuts down gracefully and then re-raises the signal it caught, which would end
    the process before the log sinks are flushed; here the stop is an ordinary return.
    """
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[sock])
    except _Stopped:
        out.print(stopped)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve_all_until_stopped(
    servers: Sequence[tuple[Any, socket.socket]], out: Console, stopped: str
) -> None:
    """Run several uvicorn servers (each on its socket) on one event loop until SIGTERM or
    SIGINT, then print ``stopped``.

    One loop, so the servers share in-process things bound to it (an event bus, its
    subscribers). uvicorn's own signal capture is per server and the last one installed wins,
    so it is turned off here and one handler tells every server to exit gracefully.
    """
    for server, _ in servers:
        server.capture_signals = contextlib.nullcontext

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def stop() -> None:
            for server, _ in servers:
                server.should_exit = True

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        try:
            await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in servers))
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    asyncio.run(main())
    out.print(stopped)
