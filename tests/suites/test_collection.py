"""NDB-IP1.1's file checks of an Ansible collection, on fixture collections."""

from __future__ import annotations

from pathlib import Path

import pytest

from devfactory.suites.collection import collection_problems, find_collection, module_docs


class TestCollectionProblems:
    def test_complete_collection_has_none(self, collection: Path) -> None:
        """The fixture collection is complete: no problems."""
        assert [] == collection_problems(collection)

    @pytest.mark.parametrize(
        ("name", "text", "expected"),
        [
            ("galaxy.yml", "namespace: devfactory\nname: notion\n", "galaxy.yml: missing version, readme, authors"),
            ("galaxy.yml", "namespace: [unclosed\n", "galaxy.yml: not valid YAML"),
            ("galaxy.yml", "namespace: other\nname: notion\nversion: 1.0.0\nreadme: README.md\nauthors: [a]\n", "galaxy.yml: namespace 'other' is not the folder 'devfactory'"),
            ("galaxy.yml", "namespace: devfactory\nname: notion\nversion: one\nreadme: README.md\nauthors: [a]\n", "galaxy.yml: version 'one' is not semantic"),
            ("meta/runtime.yml", "requires_ansible: '>=2.15'\n", "meta/runtime.yml: action_groups missing"),
            ("meta/runtime.yml", "action_groups: {notion: [notion_workspace]}\n", "meta/runtime.yml: requires_ansible missing"),
            ("meta/runtime.yml", "requires_ansible: '>=2.15'\naction_groups: {notion: [notion_gone]}\n", "action group notion names notion_gone, no module"),
            ("README.md", "  \n", "README.md: empty"),
            ("playbooks/site.yml", "{just: a mapping}\n", "playbooks/site.yml: not a list of plays"),
            ("playbooks/inventory.yml", "- a list\n", "playbooks/inventory.yml: not a YAML inventory"),
            ("roles/notion_database/tasks/main.yml", "name: not a list\n", "tasks/main.yml: not a list of tasks"),
            ("roles/notion_database/meta/argument_specs.yml", "argument_specs: {}\n", "no argument_specs.main.options"),
        ],
    )  # fmt: skip
    def test_broken_file_is_named(
        self, collection: Path, name: str, text: str, expected: str
    ) -> None:
        """Each broken file gives a problem that names the file and what is wrong."""
        (collection / name).write_text(text)
        problems = collection_problems(collection)
        assert any(expected in p for p in problems), problems

    def test_missing_files_are_listed(self, collection: Path) -> None:
        """Every missing required file is one problem; the rest are still checked."""
        (collection / "plugins/modules/notion_backup.py").unlink()
        (collection / "playbooks/inventory.yml").unlink()
        (collection / "galaxy.yml").write_text("name: notion\n")
        problems = collection_problems(collection)
        assert "plugins/modules/notion_backup.py: missing" in problems
        assert "playbooks/inventory.yml: missing" in problems
        assert any(p.startswith("galaxy.yml: missing namespace") for p in problems)

    @pytest.mark.parametrize(
        ("replace", "expected"),
        [
            ('RETURN = r"""', "no RETURN string"),
            ("short_description: A fixture module.", "DOCUMENTATION has no short_description"),
            ("options:\n  spec:", "DOCUMENTATION is not valid YAML"),
            ("module: notion_backup", "DOCUMENTATION module is 'notion_workspace'"),
        ],
    )
    def test_module_documentation_is_checked(
        self, collection: Path, replace: str, expected: str
    ) -> None:
        """DOCUMENTATION, EXAMPLES and RETURN are read with ast and must parse as YAML."""
        path = collection / "plugins/modules/notion_backup.py"
        text = path.read_text()
        swaps = {
            'RETURN = r"""': 'OTHER = r"""',
            "short_description: A fixture module.": "description: none",
            "options:\n  spec:": "options:\n  spec: [unclosed\n  x:",
            "module: notion_backup": "module: notion_workspace",
        }
        path.write_text(text.replace(replace, swaps[replace]))
        problems = collection_problems(collection)
        assert any(
            p.startswith("plugins/modules/notion_backup.py") and expected in p for p in problems
        ), problems

    def test_module_that_does_not_parse(self, collection: Path) -> None:
        """A module that is not Python is a problem, not a crash (it is never imported)."""
        (collection / "plugins/modules/notion_workspace.py").write_text("def broken(:\n")
        problems = collection_problems(collection)
        assert any("notion_workspace.py: cannot be parsed" in p for p in problems)

    def test_module_docs_never_imports(self, tmp_path: Path) -> None:
        """module_docs reads the constants of a module whose imports would fail."""
        path = tmp_path / "m.py"
        path.write_text('import not_a_module\nDOCUMENTATION = "module: m"\nEXAMPLES: str = "- x"\n')
        assert {"DOCUMENTATION": "module: m", "EXAMPLES": "- x"} == module_docs(path)

    def test_no_collection(self, tmp_path: Path) -> None:
        """A path with no collection is one clear problem."""
        assert [f"no collection at {tmp_path / 'none'}"] == collection_problems(tmp_path / "none")


class TestFindCollection:
    def test_found_in_a_parent_folder(self, collection: Path) -> None:
        """The collection next to a checkout is found from any folder below its root."""
        below = collection.parents[2] / "examples" / "consulting"
        below.mkdir(parents=True)
        assert collection == find_collection([below])

    def test_first_start_wins_and_none_when_absent(self, collection: Path, tmp_path: Path) -> None:
        """Starts are tried in order; nowhere gives None."""
        empty = tmp_path / "empty"
        empty.mkdir()
        assert collection == find_collection([empty, collection.parents[2]])
        assert find_collection([empty]) is None
