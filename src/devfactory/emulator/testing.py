"""Test helpers, shipped as API: run a real local Notion server on loopback in a thread.

Example::

    with LocalNotion.start(token="ntn_test") as notion:
        client = notion_client.Client(auth=notion.token, base_url=notion.base_url)
        client.users.me()
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from devfactory.emulator.app import NotionServer
from devfactory.emulator.store import Store
from devfactory.emulator.workspace import create_integration

__all__ = ["LocalNotion"]


@dataclass
class LocalNotion:
    """A running local Notion server: its URL, a token, the admin token and the objects."""

    server: NotionServer
    store: Store
    base_url: str
    token: str
    admin_token: str
    _uvicorn: uvicorn.Server
    _thread: threading.Thread
    _sock: socket.socket

    @classmethod
    def start(
        cls,
        *,
        path: Path | str | None = None,
        token: str = "ntn_devfactory_test_token",
        admin_token: str = "devfactory-test-admin",
        **server_options: Any,
    ) -> LocalNotion:
        """Start a server on 127.0.0.1 on a free port (``path`` None = in memory)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(2048)
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        store = Store(path)
        server = NotionServer(store, base_url=base_url, admin_token=admin_token, **server_options)
        if store.integration_for_token(token) is None:
            create_integration(store, "devfactory-tests", token)
        config = uvicorn.Config(server, log_level="error", access_log=False, lifespan="off")
        userver = uvicorn.Server(config)
        thread = threading.Thread(target=userver.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not userver.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the local Notion server did not start")
            time.sleep(0.01)
        return cls(server, store, base_url, token, admin_token, userver, thread, sock)

    def stop(self) -> None:
        """Stop the server and close its store."""
        self._uvicorn.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
        self.store.close()

    def __enter__(self) -> LocalNotion:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def admin(self, method: str, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call the admin API (rate limit, faults, integrations, shares, clock)."""
        response = httpx.request(
            method,
            f"{self.base_url}/__admin/{action}",
            json=body,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=10,
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def headers(self, version: str = "2025-09-03") -> dict[str, str]:
        """Headers for raw HTTP calls with this server's token."""
        return {"Authorization": f"Bearer {self.token}", "Notion-Version": version}
