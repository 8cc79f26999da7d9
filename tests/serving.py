"""A uvicorn server in a background thread on a free loopback port, for tests that need a
real server (HTTP clients, a browser, subprocess clients)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def app_server(app: Any) -> uvicorn.Server:
    """A quiet uvicorn server for ``app`` that stops within two seconds."""
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2
    )
    return uvicorn.Server(config)


@contextmanager
def serving(server: uvicorn.Server, *, what: str = "the server") -> Iterator[int]:
    """Run ``server`` (not started yet) on 127.0.0.1 in a thread; yield its port; stop it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small answers go out now
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert server.started, f"{what} did not start"
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
