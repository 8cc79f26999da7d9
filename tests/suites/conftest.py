"""Fixtures of the suite tests: a small, complete Ansible collection built in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

MODULE = '''\
#!/usr/bin/python
"""A fixture module: documentation only, never run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: {name}
short_description: A fixture module.
options:
  spec:
    description: The workspace spec.
    type: path
"""

EXAMPLES = r"""
- name: Use it
  devfactory.notion.{name}:
    spec: workspace.yaml
"""

RETURN = r"""
changed:
  description: Whether anything changed.
  type: bool
  returned: always
"""
'''

FILES = {
    "galaxy.yml": "namespace: devfactory\nname: notion\nversion: 1.0.0\nreadme: README.md\n"
    "authors: [devfactory]\n",
    "meta/runtime.yml": "requires_ansible: '>=2.15.0'\naction_groups:\n  notion:\n"
    "    - notion_workspace\n    - notion_workspace_info\n    - devfactory.notion.notion_backup\n",
    "README.md": "# devfactory.notion\n",
    "roles/notion_database/tasks/main.yml": "- name: Apply\n  devfactory.notion.notion_workspace:\n"
    "    spec: '{{ notion_spec }}'\n",
    "roles/notion_database/meta/argument_specs.yml": "argument_specs:\n  main:\n    options:\n"
    "      notion_spec: {type: path, required: true}\n",
    "roles/notion_database/defaults/main.yml": "notion_env: dev\n",
    "playbooks/site.yml": "- hosts: notion\n  roles: [devfactory.notion.notion_database]\n",
    "playbooks/inventory.yml": "all:\n  children:\n    notion:\n      hosts: {localhost: {}}\n",
}


def make_collection(base: Path) -> Path:
    """A complete ``devfactory.notion`` collection under ``base/ansible_collections``."""
    root = base / "ansible_collections" / "devfactory" / "notion"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for module in ("notion_workspace", "notion_workspace_info", "notion_backup"):
        path = root / "plugins" / "modules" / f"{module}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(MODULE.replace("{name}", module))
    return root


@pytest.fixture
def collection(tmp_path: Path) -> Path:
    """A complete fixture collection (tests break copies of it)."""
    return make_collection(tmp_path / "collections")


# The consulting example deployed to a local server on loopback (the gateway tests' fixture).
from tests.mcp.test_gateway_e2e import deployed  # noqa: E402, F401
