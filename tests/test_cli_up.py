"""``devfactory up`` (``make run``) as a process: it deploys the example to the embedded
default, serves the gateway and the dashboard in one process, prints their URLs and a fresh
admin key; a call through the gateway shows in the dashboard's log tail; SIGINT stops both
cleanly; a second start has nothing to deploy and replaces the admin key."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent / "devfactory"
SPEC = ROOT / "examples" / "consulting" / "workspace.yaml"
GATEWAY = ROOT / "examples" / "gateway.yaml"


class Up:
    """A started ``devfactory up`` and what its banner said."""

    def __init__(self, tmp_path: Path) -> None:
        env = {
            **os.environ,
            "DEVFACTORY_HOME": str(tmp_path / ".devfactory"),
            "HOME": str(tmp_path),  # the example's filesystem roots (~/Desktop…) are absent
            "COLUMNS": "200",
        }
        env.pop("DEVFACTORY_GATEWAY_TOKEN", None)
        env.pop("DEVFACTORY_DATABASE_URL", None)
        self.proc = subprocess.Popen(
            [str(BIN), "up", str(SPEC), "--env", "dev", "--gateway-config", str(GATEWAY),
             "--port", "0", "--gateway-port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.banner = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "Ctrl-C stops both" not in self.banner:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            self.banner += line
        assert "Ctrl-C stops both" in self.banner, self.banner
        self.web = self._find(r"dashboard\s+(http://127\.0\.0\.1:\d+)/")
        self.mcp = self._find(r"gateway\s+(http://127\.0\.0\.1:\d+/mcp)")
        self.key = self._find(r"admin key\s+(dfk_\S+)")
        self.token = self._find(r"mcp token\s+(dfg_\S+)")
        for url in (f"{self.web}/health", self.mcp.replace("/mcp", "/health")):
            while time.monotonic() < deadline:
                try:
                    if httpx.get(url, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)

    def _find(self, pattern: str) -> str:
        found = re.search(pattern, self.banner)
        assert found, (pattern, self.banner)
        return found.group(1)

    def stop(self) -> str:
        """SIGINT, as Ctrl-C; the rest of the output once it has exited."""
        self.proc.send_signal(signal.SIGINT)
        rest, _ = self.proc.communicate(timeout=30)
        return rest


async def _list_databases(url: str, token: str) -> str:
    async with (
        httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        result = await client.call_tool("notion__list_databases", {})
        return "".join(getattr(c, "text", "") for c in result.content)


def test_up_deploys_serves_both_and_stops_cleanly_twice(tmp_path: Path) -> None:
    first = Up(tmp_path)
    try:
        assert "Apply complete" in first.banner
        assert "devfactory is up: consulting (dev)" in first.banner
        admin = {"Authorization": f"Bearer {first.key}"}
        me = httpx.get(f"{first.web}/api/v1/me", headers=admin, timeout=10)
        assert me.status_code == 200 and me.json()["role"] == "admin"
        assert httpx.get(f"{first.web}/portal/login", timeout=10).status_code == 200

        listed = asyncio.run(_list_databases(first.mcp, first.token))
        assert "Clients" in listed and "Projects" in listed

        # The gateway's audit line is in the store the dashboard reads (one process, one store).
        deadline = time.monotonic() + 5
        calls: list[dict[str, object]] = []
        while time.monotonic() < deadline and not calls:
            tail = httpx.get(
                f"{first.web}/api/v1/logs/tail", params={"limit": 500}, headers=admin, timeout=10
            ).json()["lines"]
            calls = [line for line in tail if line.get("event") == "mcp.call"]
            time.sleep(0.1)
        assert calls and calls[-1]["tool"] == "notion__list_databases"

        drift = httpx.get(f"{first.web}/api/v1/drift", headers=admin, timeout=60).json()
        assert [(d["env"], d["in_sync"]) for d in drift["drift"]] == [("dev", True)]
    finally:
        rest = first.stop()
    assert first.proc.returncode == 0, rest
    assert "devfactory stopped" in rest
    assert first.token not in rest

    second = Up(tmp_path)
    try:
        assert "Nothing to do" in second.banner
        assert second.key != first.key
        old = httpx.get(
            f"{second.web}/api/v1/me", headers={"Authorization": f"Bearer {first.key}"}, timeout=10
        )
        assert old.status_code == 401  # the previous start's key was replaced
    finally:
        second.stop()
    assert second.proc.returncode == 0


def test_a_port_in_use_fails_before_anything_is_deployed(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        env = {**os.environ, "DEVFACTORY_HOME": str(tmp_path / ".devfactory"), "COLUMNS": "200"}
        done = subprocess.run(
            [str(BIN), "up", str(SPEC), "--env", "dev", "--gateway-config", str(GATEWAY),
             "--port", "0", "--gateway-port", str(busy)],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert str(busy) in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / ".devfactory" / "state").exists()  # nothing was deployed
