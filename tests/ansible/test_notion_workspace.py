"""The notion_workspace and notion_backup modules from ansible-playbook, against a local
Notion server on loopback: check mode, the first and second apply, --diff, and the token
kept out of every output."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devfactory.emulator.testing import LocalNotion
from tests.ansible.runner import PLAYBOOKS, SPEC, Run, data_sources, playbook, write_inventory

# Distinctive, so finding it anywhere in an output means it leaked.
TOKEN = f"ntn_ansible_secret_{secrets.token_hex(12)}"
BACKUP_KEY = f"passphrase-{secrets.token_hex(12)}"


@dataclass
class Converged:
    """The runs of converge.yml, in order, and what the server held after each."""

    notion: LocalNotion
    home: Path
    check: Run
    data_sources_after_check: int
    state_after_check: bool
    apply: Run
    data_sources_after_apply: int
    again: Run
    data_sources_after_again: int
    check_again: Run
    workdir: Path
    inventory: Path


@pytest.fixture(scope="module")
def converged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Converged]:
    """check --diff, apply at -vvv, apply again, check --diff again, on one server."""
    workdir = tmp_path_factory.mktemp("converge")
    home = workdir / "devfactory"
    with LocalNotion.start(path=workdir / "notion.db", token=TOKEN) as notion:
        inventory = write_inventory(
            workdir / "inventory.yml",
            {"acme": {}},
            notion_token=TOKEN,
            notion_target=notion.base_url,
            devfactory_home=str(home),
            spec_file=str(SPEC),
            backup_key=BACKUP_KEY,
        )
        book = PLAYBOOKS / "converge.yml"
        check = playbook(book, inventory, workdir, "--check", "--diff")
        after_check = len(data_sources(notion.base_url, TOKEN))
        state_after_check = (home / "state").exists()
        apply = playbook(book, inventory, workdir, "-vvv")
        after_apply = len(data_sources(notion.base_url, TOKEN))
        again = playbook(book, inventory, workdir)
        after_again = len(data_sources(notion.base_url, TOKEN))
        check_again = playbook(book, inventory, workdir, "--check", "--diff")
        yield Converged(
            notion, home, check, after_check, state_after_check, apply, after_apply, again,
            after_again, check_again, workdir, inventory,
        )  # fmt: skip


class TestCheckMode:
    def test_check_mode_reports_a_change(self, converged: Converged) -> None:
        """--check on an empty workspace reports the converge task as changed."""
        assert 0 == converged.check.returncode, converged.check.explain()
        assert {"acme": 1} == converged.check.changed()

    def test_check_mode_changes_nothing(self, converged: Converged) -> None:
        """After --check the server holds no database and no deploy state was written."""
        assert 0 == converged.data_sources_after_check
        assert not converged.state_after_check
        assert "report=none" in converged.check.stdout

    def test_diff_shows_the_planned_changes(self, converged: Converged) -> None:
        """--diff prints before/after per database, with the databases to create."""
        out = converged.check.stdout
        assert "+++ after: databases.clients (spec)" in out, converged.check.explain()
        assert '+databases.clients: database "[dev] Clients"' in out
        assert "+databases.invoices:" in out


class TestApply:
    def test_first_run_changes(self, converged: Converged) -> None:
        """The first real run creates the seven databases and reports changed."""
        assert 0 == converged.apply.returncode, converged.apply.explain()
        assert {"acme": 1} == converged.apply.changed()
        assert 7 == converged.data_sources_after_apply

    def test_first_run_reports_summary_and_report_path(self, converged: Converged) -> None:
        """The result carries the plan summary and the path of the YAML report."""
        out = converged.apply.stdout
        assert '\\"add\\": 43' in out or '"add": 43' in out, converged.apply.explain()
        reports = sorted((converged.home / "reports").glob("consulting.dev.*.yaml"))
        assert reports and f"report={reports[0]}" in out

    def test_second_run_changes_nothing(self, converged: Converged) -> None:
        """Applying again is a no-op: changed=0, and no database is added."""
        assert 0 == converged.again.returncode, converged.again.explain()
        assert {"acme": 0} == converged.again.changed()
        assert 7 == converged.data_sources_after_again

    def test_check_after_apply_changes_nothing(self, converged: Converged) -> None:
        """--check --diff after the apply: changed=0 and no diff to show."""
        assert 0 == converged.check_again.returncode, converged.check_again.explain()
        assert {"acme": 0} == converged.check_again.changed()
        assert "+++ after:" not in converged.check_again.stdout


class TestTokenNeverLogged:
    def test_token_absent_from_vvv_output(self, converged: Converged) -> None:
        """At -vvv the module arguments are printed, with the token masked."""
        run = converged.apply
        assert "ESTABLISH LOCAL CONNECTION" in run.stdout  # really -vvv
        assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in run.stdout
        assert TOKEN not in run.output

    def test_token_absent_from_every_output(self, converged: Converged) -> None:
        """No run printed the token, and neither the state nor a report holds it."""
        runs = [converged.check, converged.apply, converged.again, converged.check_again]
        assert not [r.args for r in runs if TOKEN in r.output]
        written = [p for p in converged.home.rglob("*") if p.is_file() and p.suffix != ".sqlite"]
        assert written and not [p for p in written if TOKEN.encode() in p.read_bytes()]


@pytest.fixture(scope="module")
def results(converged: Converged) -> dict[str, dict[str, object]]:
    """backup.yml against the converged workspace; its registered results."""
    out = converged.workdir / "backup-results.json"
    run = playbook(
        PLAYBOOKS / "backup.yml", converged.inventory, converged.workdir,
        "-e", f"results_file={out}",
    )  # fmt: skip
    assert 0 == run.returncode, run.explain()
    assert BACKUP_KEY not in run.output and TOKEN not in run.output
    data: dict[str, dict[str, object]] = json.loads(out.read_text())
    return data


class TestBackup:
    def test_backup_without_a_key_fails_clearly(
        self, results: dict[str, dict[str, object]]
    ) -> None:
        """No key, no backup: the message says how to make one."""
        failed = results["without_key"]
        assert failed["failed"] is True
        assert "DEVFACTORY_BACKUP_KEY is not set" in str(failed["msg"])

    def test_backup_writes_an_encrypted_file(self, results: dict[str, dict[str, object]]) -> None:
        """state=present writes a DFBK1 file, mode 0600, holding the seven databases."""
        backup = results["backup"]
        path = Path(str(backup["path"]))
        assert backup["changed"] is True and path.is_file()
        assert path.read_bytes().startswith(b"DFBK1\n")
        assert 0o600 == path.stat().st_mode & 0o777
        assert b"Acme Corp" not in path.read_bytes()
        databases = backup["databases"]
        assert isinstance(databases, list) and 7 == len(databases)

    def test_restore_check_mode_restores_nothing(
        self, results: dict[str, dict[str, object]]
    ) -> None:
        """Restoring in check mode reads the backup and makes nothing."""
        check = results["restore_check"]
        assert check["changed"] is True and "restored" not in check
        assert isinstance(check["databases"], list) and 7 == len(check["databases"])

    def test_restore_recreates_the_databases(
        self, results: dict[str, dict[str, object]], converged: Converged
    ) -> None:
        """state=restored makes the seven databases again, under a new page."""
        restored = results["restored"]
        counts = restored["restored"]
        assert isinstance(counts, dict) and 7 == counts["databases"] and counts["rows"] >= 35
        assert 14 == len(data_sources(converged.notion.base_url, TOKEN))
