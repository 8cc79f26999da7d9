"""A whole deploy through the CLI against a local Notion server on loopback, as a user runs it:
apply, a destructive change halted by the gate, approved, applied once with a backup, verify.
Then every sink is read back: the operation ties the Notion calls together, the gate stream
holds the decision and the review, the store finds the lines, and no token or key in use
appears anywhere the run wrote (log files, the store with its WAL, reports, backups, state,
and the terminal)."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devfactory.db import Database
from devfactory.emulator.testing import LocalNotion

BIN = Path(sys.executable).parent / "devfactory"
SPEC = """apiVersion: devfactory/v1
workspace: fullrun
databases:
  notes:
    title: Notes
    properties:
      Name: title
      Body: rich_text
{extra}    rows:
      - {{Name: first, Body: hello}}
"""


class Run:
    """The CLI with one environment; every command's output is kept for the final grep."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.outputs: list[str] = []

    def __call__(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(BIN), *args], capture_output=True, text=True, env=self.env, timeout=120
        )
        self.outputs += [result.stdout, result.stderr]
        assert code == result.returncode, result.stdout[-3000:] + result.stderr[-3000:]
        assert "Traceback" not in result.stderr
        return result


@pytest.fixture
def secret_token() -> str:
    return "ntn_" + secrets.token_hex(20)


@pytest.fixture
def server(tmp_path: Path, secret_token: str) -> Iterator[LocalNotion]:
    with LocalNotion.start(path=tmp_path / "server.db", token=secret_token) as running:
        yield running


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def store_text(url: str) -> str:
    """Every row of every table of the store, as text (the part of a sink a file grep misses
    on PostgreSQL)."""
    with Database(url) as db:
        if db.dialect == "sqlite":
            return ""  # the file itself (and its WAL) is grepped
        tables = [
            r[0]
            for r in db.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        ]
        return "\n".join(
            str(row) for table in tables for row in db.execute(f'SELECT t::text FROM "{table}" t')
        )


def test_full_run_logs_gates_and_leaks_nothing(
    tmp_path: Path, server: LocalNotion, secret_token: str, store_url: str
) -> None:
    home = tmp_path / "home"
    backup_key = "passphrase-" + secrets.token_hex(16)
    env = {
        **os.environ,
        "DEVFACTORY_HOME": str(home),
        "DEVFACTORY_EMULATOR_TOKEN": secret_token,
        "DEVFACTORY_BACKUP_KEY": backup_key,
        "DEVFACTORY_DATABASE_URL": store_url,
        "DEVFACTORY_LOG_LEVEL": "debug",
        "COLUMNS": "200",
    }
    env.pop("NOTION_TOKEN", None)
    run = Run(env)
    spec = tmp_path / "fullrun.yaml"
    spec.write_text(SPEC.format(extra="      Score: number\n"))
    target = ("--target", server.base_url)

    run("apply", str(spec), *target, "--auto-approve")
    spec.write_text(SPEC.format(extra=""))
    halted = run("apply", str(spec), *target, "--auto-approve", code=1)
    found = re.search(r"devfactory approvals approve (apr_[0-9a-f]+)", halted.stderr)
    assert found is not None, halted.stderr
    approval = found.group(1)
    assert "Score" in halted.stderr
    pending = json.loads(run("approvals", "list", "--status", "pending", "--json").stdout)
    assert [approval] == [p["id"] for p in pending]
    run("approvals", "approve", approval, "--note", "drop the score column")
    applied = run("apply", str(spec), *target, "--auto-approve")
    assert "Backup before" in applied.stdout
    consumed = json.loads(run("approvals", "show", approval, "--json").stdout)
    assert "consumed" == consumed["status"]
    run("verify", str(spec), *target)
    run("plan", str(spec), *target, "--detailed-exitcode")

    # One operation per command; the Notion calls of an apply carry its operation id.
    logs = home / "logs"
    operations = [
        r for r in records(logs / "operations.jsonl") if r["event"] == "operation started"
    ]
    assert [o["operation"] for o in operations].count("deploy.apply") == 3
    applies = {o["operation_id"] for o in operations if o["operation"] == "deploy.apply"}
    calls = records(logs / "performance.jsonl")
    assert calls and {c["event"] for c in calls} == {"notion call"}
    assert {c["operation_id"] for c in calls} & applies
    for call in calls:
        assert {"method", "path", "status", "duration_s", "attempt", "rate_limit_wait_s"} <= set(
            call
        )
    gate = records(logs / "gate.jsonl")
    decisions = [g for g in gate if g["event"] == "gate.decision"]
    assert ["halt"] == [d["decision"] for d in decisions]
    assert any(g["event"] == "gate.review" and g.get("decision") == "approved" for g in gate)
    assert any(g["event"] == "gate.consume" and g.get("allowed") is True for g in gate)

    # The store holds the same lines: search finds the gate decision of this run.
    found_json = run("logs", "search", "gate.decision", "--stream", "gate", "--json").stdout
    assert approval in found_json

    # Nothing the run wrote holds the token or the key: files, store, terminal.
    needles = [secret_token.encode(), backup_key.encode()]
    written = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".jsonl" for p in written)
    assert any(p.parent.name == "backups" for p in written)
    assert any(p.parent.name == "reports" for p in written)
    for path in written:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{needle[:8]!r}... found in {path}"
    everything = store_text(store_url) + "".join(run.outputs)
    for needle in needles:
        assert needle.decode() not in everything
