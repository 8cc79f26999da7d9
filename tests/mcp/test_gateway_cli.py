"""``devfactory gateway`` as a process: banner, a generated token, both wires, audit file,
a clean stop, and configuration errors without tracebacks."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "devfactory"


def start(config: Path, home: Path) -> tuple[subprocess.Popen[str], int, str]:
    env = {**os.environ, "DEVFACTORY_HOME": str(home), "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [str(BIN), "gateway", "--config", str(config), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    seen, port, token = "", 0, ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line
        if found := re.search(r"listening on 127\.0\.0\.1:(\d+)", line):
            port = int(found.group(1))
        if found := re.search(r"token\s+(dfg_\S+)", line):
            token = found.group(1)
        if port and token:
            break
        if proc.poll() is not None:
            break
    assert port and token, seen
    # the banner is printed before uvicorn binds the servers: wait until it answers
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    return proc, port, token


def notes_config(tmp_path: Path) -> Path:
    """A gateway configuration with the notes server as a stdio command."""
    config = tmp_path / "gateway.yaml"
    notes = {
        "command": sys.executable,
        "args": ["-m", "tests.mcp.notes_server"],
        "env": {"PYTHONPATH": str(ROOT)},
    }
    config.write_text(yaml.safe_dump({"version": 1, "servers": {"notes": notes}}))
    return config


def test_gateway_process_serves_both_wires_and_stops_cleanly(tmp_path: Path) -> None:
    config = notes_config(tmp_path)
    home = tmp_path / "home"
    proc, port, token = start(config, home)
    try:
        health = httpx.get(f"http://127.0.0.1:{port}/health").json()
        assert health["servers"]["notes"]["up"] is True
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        }
        answer = httpx.post(f"http://127.0.0.1:{port}/mcp", json=init, headers=headers)
        assert 200 == answer.status_code, answer.text
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
            sock.makefile("rb") as reader,
        ):
            sock.sendall(json.dumps(init).encode() + b"\n")
            assert "devfactory-gateway" in reader.readline().decode()
            sock.sendall(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
            call = {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "notes__read_note", "arguments": {"name": "welcome"}},
            }
            sock.sendall(json.dumps(call).encode() + b"\n")
            assert "hello" in reader.readline().decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert 0 == proc.returncode, out
    assert "gateway stopped" in out
    assert "Traceback" not in out
    audit = [json.loads(x) for x in (home / "logs" / "audit.jsonl").read_text().splitlines()]
    calls = [a for a in audit if a["event"] == "mcp.call"]
    assert [("notes__read_note", "ok", "tcp")] == [
        (c["tool"], c["outcome"], c["client"]) for c in calls
    ]
    assert token not in (home / "logs" / "audit.jsonl").read_text()


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("version: 1\nservers:\n  x:\n    url: ftp://nope\n")
    result = subprocess.run(
        [str(BIN), "gateway", "--config", str(config), "--port", "0"],
        capture_output=True,
        text=True,
        env={**os.environ, "DEVFACTORY_HOME": str(tmp_path / "home")},
        timeout=60,
    )
    assert 1 == result.returncode
    assert f"{config}:4:" in result.stderr and "http://" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.anyio
async def test_with_redis_the_calls_are_on_the_shared_event_bus(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DEVFACTORY_REDIS_URL set: a call through the gateway process is published on the Redis
    bus, where another process (the dashboard) follows it."""
    from devfactory.obs.events import RedisBus

    config = notes_config(tmp_path)
    monkeypatch.setenv("DEVFACTORY_REDIS_URL", redis_url)
    bus = RedisBus(redis_url)
    subscription = bus.subscribe(["operation_finished"])
    await subscription.ready()  # listening before the call is made
    proc, port, _ = start(config, tmp_path / "home")
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
            sock.makefile("rb") as reader,
        ):
            init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}  # fmt: skip
            sock.sendall(json.dumps(init).encode() + b"\n")
            reader.readline()
            sock.sendall(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
            call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "notes__list_notes", "arguments": {}}}  # fmt: skip
            sock.sendall(json.dumps(call).encode() + b"\n")
            assert "welcome" in reader.readline().decode()
        with anyio.fail_after(15):
            async for event in subscription:
                if getattr(event, "name", "") == "mcp.call notes__list_notes":
                    assert "ok" == event.outcome  # type: ignore[attr-defined]
                    break
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        await bus.close()
