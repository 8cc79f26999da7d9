"""Check an Ansible collection's files without Ansible: present, YAML that parses, the keys
Galaxy and ansible-core need, and module documentation that ``ansible-doc`` can read.

The ``devfactory.notion`` collection ships next to the package, at
``ansible_collections/devfactory/notion`` in the repository. The modules are parsed with
:mod:`ast` and their ``DOCUMENTATION``, ``EXAMPLES`` and ``RETURN`` constants read as YAML;
nothing is imported, so a module with a broken import is still checked and never run.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "COLLECTION_PATH",
    "MODULES",
    "REQUIRED_FILES",
    "collection_problems",
    "find_collection",
    "module_docs",
]

COLLECTION_PATH = Path("ansible_collections") / "devfactory" / "notion"
MODULES = ("notion_workspace", "notion_workspace_info", "notion_backup")
ROLE = Path("roles") / "notion_database"
REQUIRED_FILES = (
    "galaxy.yml",
    "meta/runtime.yml",
    "README.md",
    *(f"plugins/modules/{name}.py" for name in MODULES),
    f"{ROLE.as_posix()}/tasks/main.yml",
    f"{ROLE.as_posix()}/meta/argument_specs.yml",
    f"{ROLE.as_posix()}/defaults/main.yml",
    "playbooks/site.yml",
    "playbooks/inventory.yml",
)
GALAXY_KEYS = ("namespace", "name", "version", "readme", "authors")
DOC_CONSTANTS = ("DOCUMENTATION", "EXAMPLES", "RETURN")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")


def find_collection(starts: Iterable[Path]) -> Path | None:
    """The first ``ansible_collections/devfactory/notion`` folder in or above a start folder.

    The CLI passes the spec's folder, the working directory and the package's own folder,
    so a checkout finds the collection it ships whatever the current directory.
    """
    for start in starts:
        start = start.resolve()
        for folder in (start, *start.parents):
            candidate = folder / COLLECTION_PATH
            if (candidate / "galaxy.yml").is_file():
                return candidate
    return None


def _load_yaml(path: Path, problems: list[str], where: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(f"{where}: not valid YAML ({_first_line(exc)})")
        return None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def module_docs(path: Path) -> dict[str, str]:
    """The string constants ``DOCUMENTATION``, ``EXAMPLES`` and ``RETURN`` of a module file,
    read with :mod:`ast` (never imported). Missing ones are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: dict[str, str] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        value = getattr(node, "value", None)
        if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in DOC_CONSTANTS:
                found[target.id] = value.value
    return found


def _check_galaxy(root: Path, problems: list[str]) -> None:
    data = _load_yaml(root / "galaxy.yml", problems, "galaxy.yml")
    if not isinstance(data, dict):
        if data is not None:
            problems.append("galaxy.yml: not a mapping")
        return
    missing = [key for key in GALAXY_KEYS if not data.get(key)]
    if missing:
        problems.append(f"galaxy.yml: missing {', '.join(missing)}")
    version = data.get("version")
    if version and not _SEMVER.match(str(version)):
        problems.append(f"galaxy.yml: version {version!r} is not semantic (x.y.z)")
    authors = data.get("authors")
    if authors and not isinstance(authors, list):
        problems.append("galaxy.yml: authors should be a list")
    readme = data.get("readme")
    if isinstance(readme, str) and readme and not (root / readme).is_file():
        problems.append(f"galaxy.yml: readme {readme} does not exist")
    # ansible-galaxy installs a collection at ansible_collections/<namespace>/<name>.
    if root.parent.parent.name == "ansible_collections":
        for key, folder in (("namespace", root.parent.name), ("name", root.name)):
            if data.get(key) and data.get(key) != folder:
                problems.append(f"galaxy.yml: {key} {data[key]!r} is not the folder {folder!r}")


def _check_runtime(root: Path, problems: list[str]) -> None:
    data = _load_yaml(root / "meta/runtime.yml", problems, "meta/runtime.yml")
    if not isinstance(data, dict):
        if data is not None:
            problems.append("meta/runtime.yml: not a mapping")
        return
    if not isinstance(data.get("requires_ansible"), str):
        problems.append("meta/runtime.yml: requires_ansible missing (a version range string)")
    groups = data.get("action_groups")
    if not isinstance(groups, dict) or not groups:
        problems.append("meta/runtime.yml: action_groups missing (a mapping of group to modules)")
        return
    for group, members in groups.items():
        for member in members if isinstance(members, list) else []:
            if not isinstance(member, str):
                continue  # e.g. {metadata: {extend_group: ...}}
            name = member.rsplit(".", 1)[-1]
            if not (root / "plugins" / "modules" / f"{name}.py").is_file():
                problems.append(f"meta/runtime.yml: action group {group} names {member}, no module")


def _check_module(root: Path, name: str, problems: list[str]) -> None:
    where = f"plugins/modules/{name}.py"
    try:
        docs = module_docs(root / where)
    except (OSError, UnicodeDecodeError, SyntaxError) as exc:
        problems.append(f"{where}: cannot be parsed ({_first_line(exc)})")
        return
    for constant in DOC_CONSTANTS:
        if constant not in docs:
            problems.append(f"{where}: no {constant} string")
            continue
        try:
            parsed = yaml.safe_load(docs[constant])
        except yaml.YAMLError as exc:
            problems.append(f"{where}: {constant} is not valid YAML ({_first_line(exc)})")
            continue
        if constant == "DOCUMENTATION":
            if not isinstance(parsed, dict):
                problems.append(f"{where}: DOCUMENTATION is not a mapping")
                continue
            if parsed.get("module") != name:
                problems.append(f"{where}: DOCUMENTATION module is {parsed.get('module')!r}")
            if not parsed.get("short_description"):
                problems.append(f"{where}: DOCUMENTATION has no short_description")


def _check_shapes(root: Path, present: set[str], problems: list[str]) -> None:
    """The role's and the playbooks' files that exist: parsed, and of the right shape."""
    role = ROLE.as_posix()

    def load(name: str) -> Any:
        return _load_yaml(root / name, problems, name) if name in present else None

    tasks = load(f"{role}/tasks/main.yml")
    if tasks is not None and not isinstance(tasks, list):
        problems.append(f"{role}/tasks/main.yml: not a list of tasks")
    where = f"{role}/meta/argument_specs.yml"
    specs = load(where)
    main = specs.get("argument_specs", {}).get("main") if isinstance(specs, dict) else None
    if where in present and not (isinstance(main, dict) and isinstance(main.get("options"), dict)):
        problems.append(f"{where}: no argument_specs.main.options")
    defaults = load(f"{role}/defaults/main.yml")
    if defaults is not None and not isinstance(defaults, dict):
        problems.append(f"{role}/defaults/main.yml: not a mapping of variables")
    plays = load("playbooks/site.yml")
    if plays is not None and not (
        isinstance(plays, list)
        and plays
        and all(isinstance(p, dict) and ("hosts" in p or "import_playbook" in p) for p in plays)
    ):
        problems.append("playbooks/site.yml: not a list of plays (each with hosts)")
    inventory = load("playbooks/inventory.yml")
    if "playbooks/inventory.yml" in present and not isinstance(inventory, dict):
        problems.append("playbooks/inventory.yml: not a YAML inventory (a mapping of groups)")


def collection_problems(root: Path) -> list[str]:
    """Everything wrong with the collection at ``root``, one line each (empty: complete)."""
    if not root.is_dir():
        return [f"no collection at {root}"]
    missing = [name for name in REQUIRED_FILES if not (root / name).is_file()]
    problems = [f"{name}: missing" for name in missing]
    if "galaxy.yml" not in missing:
        _check_galaxy(root, problems)
    if "meta/runtime.yml" not in missing:
        _check_runtime(root, problems)
    if "README.md" not in missing and not (root / "README.md").read_text(errors="replace").strip():
        problems.append("README.md: empty")
    for name in MODULES:
        if f"plugins/modules/{name}.py" not in missing:
            _check_module(root, name, problems)
    present = {name for name in REQUIRED_FILES if name not in missing}
    _check_shapes(root, present, problems)
    return problems
