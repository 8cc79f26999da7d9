"""Import (adopt existing databases) and applying one spec to many workspaces at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from devfactory.emulator.testing import LocalNotion

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "consulting" / "workspace.yaml"
BIN = Path(sys.executable).parent / "devfactory"


def run(
    home: Path, *args: str, env: dict[str, str] | None = None, check: int | None = 0
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "DEVFACTORY_HOME": str(home), "COLUMNS": "220", **(env or {})}
    full.pop("NOTION_TOKEN", None)
    result = subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, env=full, timeout=180
    )
    if check is not None:
        assert check == result.returncode, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return result


class TestImport:
    def test_imported_workspace_plans_no_changes(self, tmp_path: Path) -> None:
        """Databases made elsewhere are adopted: the printed spec plans to nothing."""
        home = tmp_path / "home"
        run(home, "apply", str(EXAMPLE), "--env", "dev", "--auto-approve", "--no-verify")
        printed = run(home, "import", "--all", "--workspace", "adopted").stdout
        spec = yaml.safe_load(printed)
        assert 7 == len(spec["databases"])
        assert "parent" in spec
        path = tmp_path / "adopted.yaml"
        path.write_text(printed)
        run(home, "validate", str(path))
        assert "No changes." in run(home, "plan", str(path), "--detailed-exitcode").stdout

    def test_import_refuses_to_overwrite_a_state(self, tmp_path: Path) -> None:
        """Importing into a workspace name that has a state already is refused."""
        home = tmp_path / "home"
        run(home, "apply", str(EXAMPLE), "--env", "dev", "--auto-approve", "--no-verify")
        refused = run(home, "import", "--all", "--workspace", "consulting", "--env", "dev", check=1)
        assert "state exists already" in refused.stderr

    def test_one_data_source_with_relations_outside_is_warned(self, tmp_path: Path) -> None:
        """Importing one data source leaves out relations to ones not imported, with a warning."""
        home = tmp_path / "home"
        run(home, "apply", str(EXAMPLE), "--env", "dev", "--auto-approve", "--no-verify")
        state = yaml.safe_load((home / "state" / "consulting.dev.json").read_text())
        ds = state["databases"]["projects"]["data_source_id"]
        result = run(home, "import", "--data-source", ds, "--workspace", "only_projects")
        assert "left out" in result.stderr
        spec_path = tmp_path / "one.yaml"
        spec_path.write_text(result.stdout)
        assert "No changes." in run(home, "plan", str(spec_path), "--detailed-exitcode").stdout


def test_three_workspaces_deploy_concurrently(tmp_path: Path) -> None:
    """--workspaces applies to three targets at once, each with its own token and state."""
    servers = [LocalNotion.start(token=f"ntn_fleet_token_{i}_xxxxxxxx") for i in range(3)]
    try:
        fleet = {
            "workspaces": [
                {
                    "name": f"client{i}",
                    "env": "staging",
                    "target": s.base_url,
                    "token_env": f"FLEET_TOKEN_{i}",
                    "rate": 50,
                }
                for i, s in enumerate(servers)
            ]
        }
        path = tmp_path / "workspaces.yaml"
        path.write_text(yaml.safe_dump(fleet))
        tokens = {f"FLEET_TOKEN_{i}": s.token for i, s in enumerate(servers)}
        home = tmp_path / "home"
        result = run(
            home, "apply", str(EXAMPLE), "--workspaces", str(path), "--auto-approve", env=tokens
        )
        assert 3 == result.stdout.count("applied, verified")
        for i, server in enumerate(servers):
            assert (
                home / "workspaces" / f"client{i}" / "state" / "consulting.staging.json"
            ).exists()
            assert server.store.counts().get("database") == 7
        again = run(
            home, "apply", str(EXAMPLE), "--workspaces", str(path), "--auto-approve", env=tokens
        )
        assert 3 == again.stdout.count("no changes")
        for token in tokens.values():
            assert token not in result.stdout + again.stdout
    finally:
        for server in servers:
            server.stop()


def test_fleet_needs_the_token_variable(tmp_path: Path) -> None:
    """A workspace whose token variable is unset fails alone, with a clear message."""
    with LocalNotion.start() as server:
        path = tmp_path / "workspaces.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "workspaces": [
                        {"name": "a", "target": server.base_url, "token_env": "NOPE_NOT_SET"}
                    ]
                }
            )
        )
        result = run(
            tmp_path / "home",
            "apply",
            str(EXAMPLE),
            "--workspaces",
            str(path),
            "--auto-approve",
            check=1,
        )
        assert "NOPE_NOT_SET" in result.stdout
