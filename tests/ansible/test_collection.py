"""The collection as a package: its documentation renders, it builds, the example inventory
and playbook parse, and ansible-test sanity passes (offline, with the get-pip shim)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

from tests.ansible.runner import BIN, COLLECTION, run

MODULES = {
    "notion_workspace": "Converge a Notion workspace to a devfactory spec",
    "notion_workspace_info": "Report drift and the deploy state of a Notion workspace",
    "notion_backup": "Take or restore an encrypted backup of deployed Notion databases",
}
# ansible-test 2.19 bootstraps pip with this file; offline, ensurepip stands in for it.
GET_PIP_SHIM = "import ensurepip\n\n\ndef main():\n    ensurepip.bootstrap()\n\n\nif __name__ == '__main__':\n    main()\n"


class TestDocs:
    def test_ansible_doc_renders_every_module(self, tmp_path: Path) -> None:
        """ansible-doc renders each module, with the options of the shared doc fragment."""
        names = [f"devfactory.notion.{m}" for m in MODULES]
        done = run([str(BIN / "ansible-doc"), *names], tmp_path)
        assert 0 == done.returncode, done.explain()
        for name in MODULES:
            assert f"> MODULE devfactory.notion.{name} " in done.stdout
        assert done.stdout.count("NOTION_TOKEN") >= 3  # the token option of each module
        assert "DEVFACTORY_BACKUP_KEY" in done.stdout

    def test_ansible_doc_lists_the_collection(self, tmp_path: Path) -> None:
        """ansible-doc --list finds exactly the three modules, with their short descriptions."""
        done = run([str(BIN / "ansible-doc"), "--list", "devfactory.notion", "--json"], tmp_path)
        assert 0 == done.returncode, done.explain()
        listed = yaml.safe_load(done.stdout)
        assert {f"devfactory.notion.{m}": short for m, short in MODULES.items()} == listed

    def test_ansible_doc_renders_the_role(self, tmp_path: Path) -> None:
        """The role's argument specs render as its documentation."""
        done = run(
            [str(BIN / "ansible-doc"), "-t", "role", "devfactory.notion.notion_database"], tmp_path
        )
        assert 0 == done.returncode, done.explain()
        assert "notion_database_allow_destroy" in done.stdout
        assert "Deploy a devfactory workspace spec to Notion" in done.stdout


class TestPackaging:
    def test_collection_builds(self, tmp_path: Path) -> None:
        """ansible-galaxy collection build makes the versioned tarball."""
        done = run(
            [str(BIN / "ansible-galaxy"), "collection", "build", str(COLLECTION),
             "--output-path", str(tmp_path / "dist")],
            tmp_path,
        )  # fmt: skip
        assert 0 == done.returncode, done.explain()
        assert (tmp_path / "dist" / "devfactory-notion-0.1.0.tar.gz").is_file()

    def test_example_inventory_has_three_workspaces_in_rollout_order(self, tmp_path: Path) -> None:
        """playbooks/inventory.yml: acme, northwind and globex in `workspaces`, dev first."""
        done = run(
            [str(BIN / "ansible-inventory"), "-i", str(COLLECTION / "playbooks" / "inventory.yml"),
             "--list"],
            tmp_path,
        )  # fmt: skip
        assert 0 == done.returncode, done.explain()
        data = yaml.safe_load(done.stdout)
        assert ["dev", "staging", "prod"] == data["workspaces"]["children"]
        assert ["acme"] == data["dev"]["hosts"] and ["globex"] == data["prod"]["hosts"]

    def test_example_playbook_parses(self, tmp_path: Path) -> None:
        """site.yml passes --syntax-check with the example inventory."""
        playbooks = COLLECTION / "playbooks"
        done = run(
            [str(BIN / "ansible-playbook"), "-i", str(playbooks / "inventory.yml"),
             str(playbooks / "site.yml"), "--syntax-check"],
            tmp_path,
        )  # fmt: skip
        assert 0 == done.returncode, done.explain()


class TestSanity:
    def test_ansible_test_sanity_passes(self, tmp_path: Path) -> None:
        """ansible-test sanity on a copy of the collection, Python 3.11, offline bootstrap."""
        copy = tmp_path / "ansible_collections" / "devfactory" / "notion"
        shutil.copytree(
            COLLECTION, copy, ignore=shutil.ignore_patterns("output", ".devfactory", "__pycache__")
        )
        home = tmp_path / "home"
        shim = home / ".ansible" / "test" / "cache" / "get_pip_24_2.py"
        shim.parent.mkdir(parents=True)
        shim.write_text(GET_PIP_SHIM)
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        done = run(
            [str(BIN / "ansible-test"), "sanity", "--python", python, "--color", "no"],
            copy,
            timeout=1200,
            HOME=str(home),
        )
        assert 0 == done.returncode, done.explain()
