"""Bad specs never crash the loader: every outcome is a Spec or a SpecError of located issues.

Hypothesis writes random text, random YAML documents, random mutations of the data of a valid
spec (the consulting example and a small spec of our own: keys deleted, renamed or replaced,
values swapped for random ones, lists emptied), and random edits of their text (slices deleted,
characters inserted, lines swapped), then runs :func:`load_and_validate` on them, with and
without an environment overlay. Anything but a :class:`Spec` or a :class:`SpecError` whose
issues each have a place or a message fails the test.
"""

# Asserts put the expected value first (structlog style), which SIM300 calls a Yoda condition.

from __future__ import annotations

import copy
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devfactory.errors import SpecError
from devfactory.spec.load import Issue
from devfactory.spec.model import Spec
from devfactory.spec.validate import load_and_validate

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples/consulting/workspace.yaml"
ENVIRON = {"NOTION_PARENT_PAGE_ID": "0123456789abcdef0123456789abcdef"}
SETTINGS = settings(
    deadline=None,
    max_examples=120,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

OWN = """\
apiVersion: devfactory/v1
workspace: consulting
parent: {page_id: "${NOTION_PARENT_PAGE_ID}"}
databases:
  clients:
    title: Clients
    icon: "🏢"
    protect: true
    properties:
      Name: title
      Status: {type: select, options: [Active, Prospect, {name: Archived, color: gray}]}
      Active Projects: {type: rollup, relation: Projects, property: Status, function: count}
    rows:
      - {Name: Acme Corp, Status: Active}
  projects:
    title: Pipeline Projects
    properties:
      Name: title
      Client: {type: relation, to: clients, synced_as: Projects}
      Budget: {type: number, format: dollar}
      Code: {type: unique_id, prefix: PRJ}
      Margin: {type: formula, expression: 'prop("Budget") * 0.2'}
      Status: {type: status, renamed_from: [Stage]}
      Due: date
    rows:
      - {Name: ERP, Client: [Acme Corp], Budget: 1000, Status: Done, Due: {start: "2026-01-01"}}
environments:
  dev: {databases: {clients: {protect: false}}}
"""
TEXTS = [OWN, EXAMPLE.read_text(encoding="utf-8")] if EXAMPLE.is_file() else [OWN]
DEV_OVERLAYS = (
    [None, EXAMPLE.with_name("workspace.dev.yaml").read_text(encoding="utf-8")]
    if (EXAMPLE.is_file())
    else [None]
)
DATA = [yaml.safe_load(text) for text in TEXTS]
YAML_CHARS = [*"abcXYZ019 _-:,.#&*!|>'\"%@`?{}[]$\n\t\\~=<", "🏢", "\x00", "\x85", "\u2028"]
NAMES = [
    "apiVersion", "workspace", "parent", "page_id", "databases", "clients", "projects",
    "title", "icon", "protect", "properties", "rows", "type", "options", "relation",
    "property", "function", "to", "synced_as", "dual", "expression", "renamed_from",
    "format", "prefix", "environments", "rules", "Name", "Status", "Projects", "start", "end",
    "title", "select", "status", "formula", "rollup", "number", "date", "${X}", "$${Y}",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _no_installed_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rules installed in the environment play no part."""
    monkeypatch.setattr(metadata, "entry_points", lambda group: [])


def scalars() -> st.SearchStrategy[Any]:
    """Values a YAML document may hold at a leaf."""
    return (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(10**20), max_value=10**20)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.sampled_from(NAMES)
        | st.text(max_size=20)
    )


def documents() -> st.SearchStrategy[Any]:
    """Random nested YAML data with spec-like keys."""
    keys = st.sampled_from(NAMES) | st.text(max_size=10)
    return st.recursive(
        scalars(),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5)
        ),
        max_leaves=25,
    )


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into ``node``, the root included."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*prefix, index))


@st.composite
def mutated_data(draw: st.DrawFn) -> tuple[int, Any]:
    """Which valid spec, and its data with one to four random edits."""
    which = draw(st.integers(min_value=0, max_value=len(DATA) - 1))
    data = copy.deepcopy(DATA[which])
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        targets = [path for path in paths(data) if path]
        if not targets:
            break
        path = draw(st.sampled_from(targets))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        action = draw(st.sampled_from(["delete", "replace", "rename", "empty", "wrap"]))
        if action == "delete":
            del parent[last]
        elif action == "replace":
            parent[last] = draw(documents())
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(NAMES) | st.text(max_size=8))] = parent.pop(last)
        elif action == "empty":
            parent[last] = (
                type(parent[last])() if isinstance(parent[last], dict | list | str) else None
            )
        else:
            parent[last] = [parent[last]]
    return which, data


@st.composite
def edited_text(draw: st.DrawFn) -> str:
    """A valid spec's text with random characters deleted, inserted or lines swapped."""
    text = draw(st.sampled_from(TEXTS))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        if not text:
            break
        start = draw(st.integers(min_value=0, max_value=len(text) - 1))
        action = draw(st.sampled_from(["delete", "insert", "swap"]))
        if action == "delete":
            text = text[:start] + text[start + draw(st.integers(min_value=1, max_value=40)) :]
        elif action == "insert":
            text = (
                text[:start]
                + draw(st.text(st.sampled_from(YAML_CHARS), min_size=1, max_size=8))
                + text[start:]
            )
        else:
            lines = text.splitlines(keepends=True)
            i, j = sorted(draw(st.lists(st.integers(0, len(lines) - 1), min_size=2, max_size=2)))
            lines[i], lines[j] = lines[j], lines[i]
            text = "".join(lines)
    return text


def dump(data: Any) -> str:
    """``data`` as YAML text (any Python value YAML can write)."""
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def write_spec(folder: Path, which: int, text: str) -> Path:
    """Write ``text`` as ``spec.yaml`` with the dev overlay of spec ``which`` (if it has one)."""
    path = folder / "spec.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    overlay = folder / "spec.dev.yaml"
    if DEV_OVERLAYS[which] is None:
        overlay.unlink(missing_ok=True)
    else:
        overlay.write_text(DEV_OVERLAYS[which] or "", encoding="utf-8")
    return path


def check(path: Path, environment: str | None = None) -> None:
    """load_and_validate returns a Spec or raises a SpecError of proper issues, nothing else."""
    try:
        spec = load_and_validate(path, environment=environment, environ=ENVIRON)
    except SpecError as error:
        assert error.issues
        for issue in error.issues:
            assert isinstance(issue, Issue)
            assert issue.location is not None or issue.message
            assert issue.message
            text = str(issue)
            assert "Traceback" not in text
            if issue.location is not None:
                assert issue.location.line >= 1
                assert issue.location.column >= 1
                assert text.startswith(f"{issue.location}: ")
    else:
        assert isinstance(spec, Spec)


class TestFuzzSpecs:
    @SETTINGS
    @given(text=st.text(st.sampled_from(YAML_CHARS), max_size=300) | st.text(max_size=200))
    def test_random_text(self, tmp_path: Path, text: str) -> None:
        """Random characters never crash the loader."""
        path = tmp_path / "spec.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        check(path)

    @SETTINGS
    @given(data=documents())
    def test_random_yaml_documents(self, tmp_path: Path, data: Any) -> None:
        """Random YAML documents never crash the validator."""
        path = tmp_path / "spec.yaml"
        path.write_text(dump(data), encoding="utf-8")
        check(path)

    @SETTINGS
    @given(mutated=mutated_data())
    def test_mutated_examples(self, tmp_path: Path, mutated: tuple[int, Any]) -> None:
        """Random edits of a valid spec's data never crash the validator."""
        which, data = mutated
        path = write_spec(tmp_path, which, dump(data))
        check(path)
        check(path, environment="dev")

    @SETTINGS
    @given(text=edited_text())
    def test_edited_example_text(self, tmp_path: Path, text: str) -> None:
        """Random edits of a valid spec's text never crash the loader."""
        path = tmp_path / "spec.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        check(path)

    @SETTINGS
    @given(overlay=documents() | mutated_data().map(lambda mutated: mutated[1]))
    def test_random_overlays(self, tmp_path: Path, overlay: Any) -> None:
        """A random overlay file over a valid spec never crashes the loader."""
        (tmp_path / "spec.yaml").write_text(TEXTS[0], encoding="utf-8")
        (tmp_path / "spec.qa.yaml").write_text(dump(overlay), encoding="utf-8")
        check(tmp_path / "spec.yaml", environment="qa")

    def test_unmutated_specs_are_valid(self, tmp_path: Path) -> None:
        """The starting points themselves validate, so mutations start from valid specs."""
        for index, text in enumerate(TEXTS):
            path = write_spec(tmp_path, index, text)
            assert isinstance(load_and_validate(path, environ=ENVIRON), Spec)
            assert isinstance(load_and_validate(path, environment="dev", environ=ENVIRON), Spec)
