"""``devfactory logs``: search, tail, show-op and prune against the store in DEVFACTORY_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from devfactory.cli import app
from devfactory.cli.logs import follow, parse_when
from devfactory.errors import UserError
from devfactory.obs.logstore import LogStore, open_store

BIN = Path(sys.executable).parent / "devfactory"
NOW = datetime.now(UTC)


def record(event: str, ago: float, **fields: Any) -> dict[str, Any]:
    """A record logged ``ago`` seconds before the test started."""
    stamp = (NOW - timedelta(seconds=ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    base = {"level": "info", "stream": "operations", "component": "deploy"}
    return {"timestamp": stamp, **base, "event": event, **fields}


def write(home: Path, *records: dict[str, Any]) -> None:
    with open_store(f"sqlite:///{home / 'devfactory.db'}") as store:
        store.write([(orjson.dumps(r), r) for r in records])


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DEVFACTORY_HOME with a store holding an operation tree and a few other lines."""
    monkeypatch.setenv("DEVFACTORY_HOME", str(tmp_path))
    monkeypatch.delenv("DEVFACTORY_DATABASE_URL", raising=False)
    write(
        tmp_path,
        record("apply started", 3 * 86400, operation_id="op-old"),
        record("apply started", 120, operation_id="op-root", workspace="acme"),
        record(
            "create database",
            110,
            operation_id="op-child",
            parent_operation_id="op-root",
            title="Tasks",
        ),
        record(
            "create failed",
            100,
            level="error",
            stream="errors",
            operation_id="op-child",
            parent_operation_id="op-root",
            error="duplicate title",
        ),
        record("apply finished", 90, operation_id="op-root", duration_s=30.0),
        record("approval asked", 60, level="warning", stream="gate", component="gateway"),
    )
    return tmp_path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["logs", *args], env={"COLUMNS": "200"})


def test_search_prints_a_table(home: Path) -> None:
    """search TEXT shows the matching lines as a table with their fields."""
    result = invoke("search", "duplicate")
    assert 0 == result.exit_code, result.output
    assert "create failed" in result.output and "error=duplicate title" in result.output
    assert "op-child" in result.output and "1 line" in result.output
    assert "approval asked" not in result.output


def test_search_json_lines(home: Path) -> None:
    """--json prints one logged record per line, newest first."""
    result = invoke("search", "--json", "--since", "1h")
    assert 0 == result.exit_code, result.output
    found = [json.loads(line) for line in result.output.splitlines()]
    assert ["approval asked", "apply finished", "create failed", "create database"] == [
        r["event"] for r in found[:4]
    ]
    assert 5 == len(found)  # the 3-day-old line is outside --since 1h


def test_search_filters(home: Path) -> None:
    """--level (minimum or set), --stream, --component and --op narrow the search."""

    def events(*args: str) -> list[str]:
        result = invoke("search", "--json", *args)
        assert 0 == result.exit_code, result.output
        return [json.loads(line)["event"] for line in result.output.splitlines()]

    assert ["approval asked", "create failed"] == events("--level", "warning")
    assert ["approval asked"] == events("--level", "warning,critical")
    assert ["approval asked"] == events("--stream", "gate")
    assert ["approval asked"] == events("--component", "gateway")
    assert ["apply finished", "apply started"] == events("--op", "op-root")
    assert ["apply finished"] == events("apply", "--limit", "1")
    assert ["apply started"] == events("--until", "2d")


def test_show_op_prints_the_operation_tree(home: Path) -> None:
    """show-op nests the child operation, with its lines and durations, under the root."""
    result = invoke("show-op", "op-root")
    assert 0 == result.exit_code, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("operation op-root") and "30.000 s" in lines[0]
    child = next(i for i, line in enumerate(lines) if "operation op-child" in line)
    assert "10.000 s" in lines[child] and "2 lines" in lines[child]
    text = result.output
    assert text.index("apply started") < text.index("op-child") < text.index("apply finished")
    assert text.index("create database") < text.index("create failed")
    assert "op-old" not in text


def test_show_op_unknown_is_an_error(home: Path) -> None:
    """An operation with no lines is a user error."""
    result = invoke("show-op", "op-missing")
    assert isinstance(result.exception, UserError)


def test_tail_shows_the_last_lines(home: Path) -> None:
    """tail -n N shows the last N lines, oldest first."""
    result = invoke("tail", "-n", "2", "--json")
    assert 0 == result.exit_code, result.output
    assert ["apply finished", "approval asked"] == [
        json.loads(line)["event"] for line in result.output.splitlines()
    ]


def test_follow_yields_new_lines_until_interrupted(home: Path) -> None:
    """follow() polls the store and yields each new line once; Ctrl-C ends it."""
    store: LogStore = open_store(f"sqlite:///{home / 'devfactory.db'}")
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:
            write(home, record("new line", 0))
        elif len(polls) == 3:
            raise KeyboardInterrupt

    last = store.tail(limit=1)[-1]["_id"]
    seen = []
    with store, pytest.raises(KeyboardInterrupt):
        for line in follow(store, last, sleep=sleep):
            seen.append(line["event"])
    assert ["new line"] == seen and [0.5, 0.5, 0.5] == polls


def test_prune_deletes_old_lines(home: Path) -> None:
    """prune --keep 1d deletes the 3-day-old line and says so."""
    result = invoke("prune", "--keep", "1d")
    assert 0 == result.exit_code, result.output
    assert "deleted 1 line" in result.output and "5 left" in result.output
    assert "op-old" not in invoke("search", "--json").output


def test_no_store_yet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before anything is logged, search says so instead of failing (and makes no file)."""
    monkeypatch.setenv("DEVFACTORY_HOME", str(tmp_path))
    monkeypatch.delenv("DEVFACTORY_DATABASE_URL", raising=False)
    result = invoke("search", "anything")
    assert 0 == result.exit_code and "no log lines yet" in result.output
    assert not (tmp_path / "devfactory.db").exists()


def test_parse_when() -> None:
    """Ages count back from now; ISO times without a zone are UTC."""
    now = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)
    assert now - timedelta(minutes=30) == parse_when("30m", now)
    assert now - timedelta(days=2) == parse_when("2d", now)
    assert datetime(2026, 11, 25, 20, 0, tzinfo=UTC) == parse_when("2026-11-25T20:00")
    with pytest.raises(UserError, match="neither an age"):
        parse_when("yesterday")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "--since", "yesterday"], "'yesterday' is neither an age"),
        (["search", "--level", "warn"], "unknown level 'warn'"),
        (["search", "--stream", "nope"], "unknown stream 'nope'"),
        (["prune", "--keep", "forever"], "'forever' is not a duration"),
    ],
)
def test_bad_options_exit_1_without_traceback(home: Path, args: list[str], message: str) -> None:
    """A bad --since, level, stream or --keep exits 1 with a clear message, no traceback."""
    env = {**os.environ, "DEVFACTORY_HOME": str(home), "COLUMNS": "200"}
    result = subprocess.run(
        [str(BIN), "logs", *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert 1 == result.returncode
    assert message in result.stderr and "Traceback" not in result.stderr
