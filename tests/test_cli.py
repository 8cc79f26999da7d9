"""The command line: serve (as a real process), token create/list, share, errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from devfactory.cli import app

runner = CliRunner()
BIN = Path(sys.executable).parent / "devfactory"


_EARLY: dict[int, str] = {}  # what each server printed up to its "listening on" line


def start_serve(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(BIN), "notion", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            _EARLY[proc.pid] = seen
            return proc, match.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"serve did not start:\n{seen}")


def stop(proc: subprocess.Popen[str]) -> str:
    """Stop the server; everything it printed, from its first line (stdout and stderr
    interleave in either order, so the token may come before or after the URL)."""
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    return _EARLY.pop(proc.pid, "") + out


class TestServe:
    def test_serve_prints_url_and_token_and_answers(self) -> None:
        """`notion serve --memory --token T` prints its URL and token and serves the API."""
        proc, url = start_serve("--memory", "--token", "ntn_cli_test_token")
        try:
            me = httpx.get(
                f"{url}/v1/users/me",
                headers={
                    "Authorization": "Bearer ntn_cli_test_token",
                    "Notion-Version": "2025-09-03",
                },
            )
            assert 200 == me.status_code and "bot" == me.json()["type"]
        finally:
            out = stop(proc)
        assert "ntn_cli_test_token" in out

    def test_serve_on_a_file_keeps_data_and_hides_old_tokens(self, tmp_path: Path) -> None:
        """A second start on the same file keeps pages; tokens shown once are not reprinted."""
        db = tmp_path / "n.db"
        proc, url = start_serve("--db", str(db))
        try:
            # Serving (signal handlers installed) before it is stopped: no token, refused.
            assert httpx.get(f"{url}/v1/users/me", timeout=30).status_code in (400, 401)
        finally:
            out = stop(proc)
        token = re.search(r"token\s+(ntn_\w+)", out)
        assert token is not None
        headers = {"Authorization": f"Bearer {token.group(1)}", "Notion-Version": "2025-09-03"}
        proc, url = start_serve("--db", str(db))
        try:
            page = httpx.post(
                f"{url}/v1/pages",
                json={"parent": {"workspace": True}, "properties": {}},
                headers=headers,
            )
            assert 200 == page.status_code
        finally:
            out = stop(proc)
        assert token.group(1) not in out

    def test_dropped_connections_are_not_tracebacks(self) -> None:
        """`--fault drop:1` cuts every answer short, quietly: the client sees the connection
        close, the server's console shows no traceback."""
        proc, url = start_serve("--memory", "--token", "ntn_cli_test_token", "--fault", "drop:1")
        try:
            for _ in range(3):
                with pytest.raises(httpx.TransportError):
                    httpx.get(
                        f"{url}/v1/users/me",
                        headers={
                            "Authorization": "Bearer ntn_cli_test_token",
                            "Notion-Version": "2025-09-03",
                        },
                    )
        finally:
            out = stop(proc)
        assert "Traceback" not in out and "_DroppedConnection" not in out

    def test_two_servers_cannot_share_a_file(self, tmp_path: Path) -> None:
        """A second server on the same database exits with a clear error, no traceback."""
        db = tmp_path / "n.db"
        proc, _ = start_serve("--db", str(db))
        try:
            second = subprocess.run(
                [str(BIN), "notion", "serve", "--db", str(db), "--port", "0"],
                capture_output=True,
                text=True,
                timeout=20,
            )
        finally:
            stop(proc)
        assert 1 == second.returncode
        assert "already serving" in second.stderr and "Traceback" not in second.stderr

    def test_rate_limit_flag(self) -> None:
        """--rate-limit applies from the start."""
        proc, url = start_serve(
            "--memory", "--token", "ntn_cli_test_token", "--rate-limit", "1", "--rate-burst", "1"
        )
        try:
            headers = {"Authorization": "Bearer ntn_cli_test_token", "Notion-Version": "2025-09-03"}
            codes = [httpx.get(f"{url}/v1/users/me", headers=headers).status_code for _ in range(2)]
        finally:
            stop(proc)
        assert [200, 429] == codes


class TestTokenCommands:
    def test_create_list_and_share(self, tmp_path: Path) -> None:
        """token create prints a new token; token list shows names, never tokens."""
        db = str(tmp_path / "n.db")
        created = runner.invoke(app, ["notion", "token", "create", "ci-bot", "--db", db])
        assert 0 == created.exit_code, created.output
        token = re.search(r"ntn_\w+", created.output)
        assert token is not None
        listed = runner.invoke(app, ["notion", "token", "list", "--db", db])
        assert "ci-bot" in listed.output and token.group(0) not in listed.output

    def test_share_unknown_object_is_a_user_error(self, tmp_path: Path) -> None:
        """Sharing something that does not exist exits 1 with a message."""
        db = str(tmp_path / "n.db")
        runner.invoke(app, ["notion", "token", "create", "x", "--db", db])
        result = subprocess.run(
            [str(BIN), "notion", "share", "393abc1eedcd80f3813be205934558c6", "x", "--db", db],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert 1 == result.returncode and "no page" in result.stderr

    @pytest.mark.parametrize(
        "args",
        [["notion", "serve", "--memory", "--db", "x.db"], ["notion", "serve", "--fault", "boom"]],
    )
    def test_bad_flags_exit_1_without_traceback(self, args: list[str]) -> None:
        """Contradictory or malformed flags are user errors."""
        result = subprocess.run(
            [str(BIN), *args, "--port", "0"], capture_output=True, text=True, timeout=20
        )
        assert 1 == result.returncode
        assert "error:" in result.stderr and "Traceback" not in result.stderr

    def test_version_and_module_entry(self) -> None:
        """`python -m devfactory --version` works like the console script."""
        result = subprocess.run(
            [sys.executable, "-m", "devfactory", "--version"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert result.stdout.startswith("devfactory ")


def test_token_with_limited_capabilities(tmp_path: Path) -> None:
    """--capability limits what the new integration may do; unknown names are refused."""
    db = str(tmp_path / "n.db")
    good = runner.invoke(
        app, ["notion", "token", "create", "reader", "--db", db, "--capability", "read_content"]
    )
    assert 0 == good.exit_code, good.output
    from devfactory.emulator.store import Store

    store = Store(db)
    assert [["read_content"]] == [i.capabilities for i in store.integrations.values()]
    store.close()
    bad = subprocess.run(
        [str(BIN), "notion", "token", "create", "x", "--db", db, "--capability", "fly"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert 1 == bad.returncode and "unknown capabilities" in bad.stderr
