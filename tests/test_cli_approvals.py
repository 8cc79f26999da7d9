"""``devfactory approvals``: list, show, approve and deny the calls the gate halted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devfactory.cli import app, main
from devfactory.db import Database
from devfactory.gate.approvals import Approvals
from devfactory.gate.decide import decide
from devfactory.gate.policy import Policy, ToolCall

CALL = ToolCall(
    "docker",
    "docker__remove",
    {"container": "old-job", "token": "s3cret"},
    meta={"rationale": "cleanup"},
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DEVFACTORY_HOME in a temporary directory, with the store in it."""
    monkeypatch.setenv("DEVFACTORY_HOME", str(tmp_path))
    monkeypatch.delenv("DEVFACTORY_DATABASE_URL", raising=False)
    monkeypatch.setenv("USER", "ann")
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def halt(home: Path) -> str:
    with Database(f"sqlite:///{home / 'devfactory.db'}") as db:
        return Approvals(db).create(CALL, decide(CALL, Policy()), ttl=600).id


def run_main(
    *args: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["devfactory", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return int(exit_info.value.code or 0), capsys.readouterr().err


def test_list_shows_pending_approvals_as_a_table_and_json(home: Path) -> None:
    """list prints the id, status and tool; --json gives the records."""
    ident = halt(home)
    runner = CliRunner()
    table = runner.invoke(app, ["approvals", "list", "--status", "pending"])
    assert 0 == table.exit_code, table.output
    assert ident in table.output and "docker__remove" in table.output and "pending" in table.output
    data = json.loads(runner.invoke(app, ["approvals", "list", "--json"]).output)
    assert [ident] == [item["id"] for item in data]


def test_show_prints_reasons_signals_and_the_call(home: Path) -> None:
    """show has what a reviewer needs: reasons, signal scores and the full call."""
    ident = halt(home)
    result = CliRunner().invoke(app, ["approvals", "show", ident])
    assert 0 == result.exit_code, result.output
    assert "critical" in result.output and "irreversibility: 1.00" in result.output
    assert '"container": "old-job"' in result.output


def test_approve_records_the_reviewer_and_note(home: Path) -> None:
    """approve uses $USER as reviewer; the record is approved with the note."""
    ident = halt(home)
    result = CliRunner().invoke(app, ["approvals", "approve", ident, "--note", "checked"])
    assert 0 == result.exit_code, result.output
    with Database(f"sqlite:///{home / 'devfactory.db'}") as db:
        stored = Approvals(db).get(ident)
    assert ("approved", "ann", "checked") == (stored.status, stored.reviewer, stored.note)


def test_deny_with_another_reviewer(home: Path) -> None:
    """deny --as names the reviewer."""
    ident = halt(home)
    assert 0 == CliRunner().invoke(app, ["approvals", "deny", ident, "--as", "bob"]).exit_code
    with Database(f"sqlite:///{home / 'devfactory.db'}") as db:
        assert ("denied", "bob") == (
            Approvals(db).get(ident).status,
            Approvals(db).get(ident).reviewer,
        )


def test_unknown_and_already_reviewed_ids_exit_1_without_traceback(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The console script prints one clear error line and exits 1."""
    code, err = run_main(
        "approvals", "approve", "apr_000000", monkeypatch=monkeypatch, capsys=capsys
    )
    assert (1, "error: no approval apr_000000") == (code, err.strip())
    ident = halt(home)
    run_main("approvals", "deny", ident, monkeypatch=monkeypatch, capsys=capsys)
    code, err = run_main("approvals", "approve", ident, monkeypatch=monkeypatch, capsys=capsys)
    assert 1 == code and f"{ident} is already denied (by ann)" in err and "Traceback" not in err


def test_unknown_status_is_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """list --status with a word that is not a status exits 1 naming the valid ones."""
    code, err = run_main(
        "approvals", "list", "--status", "waiting", monkeypatch=monkeypatch, capsys=capsys
    )
    assert 1 == code and "unknown status 'waiting'" in err
