"""``devfactory web keys`` and ``devfactory web`` itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from devfactory.cli import app


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DEVFACTORY_HOME in a temporary directory, with the store in it."""
    monkeypatch.setenv("DEVFACTORY_HOME", str(tmp_path))
    monkeypatch.delenv("DEVFACTORY_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def test_keys_create_list_revoke(home: Path) -> None:
    """create prints the key once; list shows no key; revoke removes it; errors exit 1."""
    runner = CliRunner()
    made = runner.invoke(
        app, ["web", "keys", "create", "ann", "--role", "operator", "-d", "clients=read"]
    )
    assert 0 == made.exit_code, made.output
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("dfk_")
    listed = runner.invoke(app, ["web", "keys", "list"])
    assert "ann" in listed.output and "clients=read" in listed.output and key not in listed.output
    assert 0 == runner.invoke(app, ["web", "keys", "revoke", "ann"]).exit_code
    assert "no keys" in runner.invoke(app, ["web", "keys", "list"]).output
    assert 1 == runner.invoke(app, ["web", "keys", "revoke", "ann"]).exit_code
    bad = runner.invoke(app, ["web", "keys", "create", "bob", "--role", "boss"])
    assert 1 == bad.exit_code


def test_web_serves_and_stops_on_sigterm(home: Path) -> None:
    """``devfactory web --port 0`` prints where it listens, answers, and exits 0 on SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "devfactory", "web", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        assert "listening on" in banner, banner
        url = banner.split("listening on", 1)[1].strip()
        deadline = time.monotonic() + 15
        while True:
            try:
                assert httpx.get(f"{url}/health", timeout=2).json()["ok"] is True
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert 0 == proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
