"""The deploy commands as a user runs them: exit codes, plan files, locks, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devfactory.deploy.state import StateFile

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "consulting" / "workspace.yaml"
BIN = Path(sys.executable).parent / "devfactory"


def run(home: Path, *args: str, check: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEVFACTORY_HOME": str(home), "COLUMNS": "200"}
    env.pop("NOTION_TOKEN", None)
    result = subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env, timeout=120)
    if check is not None:
        assert check == result.returncode, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


class TestPlanAndApply:
    def test_detailed_exitcode_two_then_zero(self, home: Path) -> None:
        """plan --detailed-exitcode: 2 while there are changes, 0 once applied."""
        first = run(home, "plan", str(EXAMPLE), "--env", "dev", "--detailed-exitcode", check=2)
        assert "Plan: 43 to add, 0 to change, 0 to destroy." in first.stdout
        assert "API calls: 47" in first.stdout
        assert "about 15.7 s at Notion's 3 requests/s; observing made 1 read." in first.stdout
        applied = run(home, "apply", str(EXAMPLE), "--env", "dev", "--auto-approve", check=0)
        assert "47 calls made of 47 planned" in applied.stdout and "verified" in applied.stdout
        again = run(home, "plan", str(EXAMPLE), "--env", "dev", "--detailed-exitcode", check=0)
        assert "No changes." in again.stdout

    def test_json_plan_and_saved_plan(self, home: Path) -> None:
        """plan --json is machine-readable; apply --plan runs exactly the saved plan."""
        saved = home.parent / "plan.json"
        data = json.loads(
            run(
                home, "plan", str(EXAMPLE), "--env", "dev", "--json", "--out", str(saved), check=0
            ).stdout
        )
        assert (
            47 == data["calls"]["total"]
            and {"add": 43, "change": 0, "destroy": 0} == data["summary"]
        )
        assert {"+"} == {c["symbol"] for c in data["changes"]}
        applied = run(
            home,
            "apply",
            str(EXAMPLE),
            "--env",
            "dev",
            "--plan",
            str(saved),
            "--auto-approve",
            check=0,
        )
        assert "47 calls made of 47 planned" in applied.stdout

    def test_stale_saved_plan_is_refused(self, home: Path) -> None:
        """A saved plan made before another apply changed the state is refused."""
        saved = home.parent / "plan.json"
        run(home, "plan", str(EXAMPLE), "--env", "dev", "--out", str(saved), check=0)
        run(home, "apply", str(EXAMPLE), "--env", "dev", "--auto-approve", check=0)
        stale = run(
            home,
            "apply",
            str(EXAMPLE),
            "--env",
            "dev",
            "--plan",
            str(saved),
            "--auto-approve",
            check=1,
        )
        assert "stale" in stale.stderr

    def test_apply_without_a_terminal_needs_auto_approve(self, home: Path) -> None:
        """With no terminal to ask, apply refuses rather than assume yes."""
        refused = run(home, "apply", str(EXAMPLE), "--env", "dev", check=1)
        assert "--auto-approve" in refused.stderr

    def test_locked_state_refuses_a_second_apply(self, home: Path) -> None:
        """While one apply holds the lock, another exits 1 naming the holder."""
        state_file = StateFile(home, "consulting", "dev")
        with state_file.lock("apply"):
            blocked = run(home, "apply", str(EXAMPLE), "--env", "dev", "--auto-approve", check=1)
            held = run(home, "state", "show", str(EXAMPLE), "--env", "dev", check=1)
        assert "locked" in blocked.stderr
        assert "no state yet" in held.stderr
        run(home, "apply", str(EXAMPLE), "--env", "dev", "--auto-approve", check=0)
        shown = run(home, "state", "show", str(EXAMPLE), "--env", "dev", check=0)
        assert "clients" in shown.stdout and "lock: free" in shown.stdout
        assert (
            "There was no lock."
            in run(home, "state", "unlock", str(EXAMPLE), "--env", "dev", check=0).stdout
        )


class TestValidateAndVerify:
    def test_validate_good_spec(self, home: Path) -> None:
        """A valid spec: exit 0 and a one-line summary."""
        assert "7 databases" in run(home, "validate", str(EXAMPLE), "--env", "dev", check=0).stdout

    def test_validate_reports_every_error_with_place(self, home: Path, tmp_path: Path) -> None:
        """A broken spec: exit 1, every problem with file:line:col, no traceback."""
        bad = tmp_path / "bad.yaml"
        bad.write_text(
            "apiVersion: devfactory/v1\nworkspace: w\ndatabases:\n  a:\n    title: A\n    properties:\n"
            "      Name: title\n      Size: {type: nummber}\n      Link: {type: relation, to: nowhere}\n"
        )
        result = run(home, "validate", str(bad), check=1)
        assert f"{bad}:8:" in result.stderr and f"{bad}:9:" in result.stderr
        assert "error: the spec has 2 problems" in result.stderr

    def test_verify_in_sync_then_drift(self, home: Path) -> None:
        """verify exits 0 in sync and 2 after a property is removed outside devfactory."""
        run(home, "apply", str(EXAMPLE), "--env", "dev", "--auto-approve", check=0)
        run(home, "verify", str(EXAMPLE), "--env", "dev", check=0)
        from devfactory.emulator.store import Store

        state = StateFile(home, "consulting", "dev").load(f"embedded:{home / 'notion.sqlite'}")
        store = Store(home / "notion.sqlite")
        ds = store.get(state.databases["clients"].data_source_id)
        with store.transaction():
            notes = next(pid for pid, p in ds.properties.items() if p["name"] == "Notes")  # type: ignore[attr-defined]
            del ds.properties[notes]  # type: ignore[attr-defined]
            store.touch(ds)  # type: ignore[arg-type]
        store.close()
        drift = run(home, "verify", str(EXAMPLE), "--env", "dev", "--json", check=2)
        assert any("Notes" in line for line in json.loads(drift.stdout)["drift"])


class TestDestroy:
    def test_refused_then_backed_up_and_applied(
        self, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Removing a column is refused without --allow-destroy; with it, a backup comes first
        and apply names the backup file."""
        spec = tmp_path / "small.yaml"
        body = (
            "apiVersion: devfactory/v1\nworkspace: small\ndatabases:\n  notes:\n    title: Notes\n"
            "    properties:\n      Name: title\n      Body: rich_text\n{extra}"
            "    rows:\n      - {{Name: first}}\n"
        )
        spec.write_text(body.format(extra="      Score: number\n"))
        run(home, "apply", str(spec), "--auto-approve", check=0)
        spec.write_text(body.format(extra=""))
        refused = run(home, "apply", str(spec), "--auto-approve", check=1)
        assert "--allow-destroy" in refused.stderr + refused.stdout
        monkeypatch.setenv("DEVFACTORY_BACKUP_KEY", "a passphrase for this test")
        applied = run(home, "apply", str(spec), "--auto-approve", "--allow-destroy", check=0)
        line = next(x for x in applied.stdout.splitlines() if x.startswith("Backup before"))
        backup = Path(line.split(": ", 1)[1].strip())
        assert backup.is_file() and backup.parent == home / "backups"
        assert b"Score" not in backup.read_bytes()  # encrypted
        run(home, "plan", str(spec), "--detailed-exitcode", check=0)
