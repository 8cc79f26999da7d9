"""The lower bound on API calls, and devfactory's plan from empty meeting it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devfactory.deploy.bound import minimum_calls
from devfactory.deploy.desired import DesiredWorkspace, desired_workspace
from devfactory.deploy.engine import load_workspace
from devfactory.deploy.observe import Observation
from devfactory.deploy.plan import make_plan
from devfactory.deploy.state import State
from devfactory.spec.model import Spec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "consulting" / "workspace.yaml"


def workspace(databases: dict[str, Any], **top: Any) -> DesiredWorkspace:
    spec = Spec.model_validate(
        {"apiVersion": "devfactory/v1", "workspace": "w", "databases": databases, **top}
    )
    return desired_workspace(spec, "dev")


def writes_from_empty(ws: DesiredWorkspace, *, name_back: bool = True) -> int:
    state = State(workspace=ws.workspace, environment=ws.environment, target="t")
    return len(make_plan(ws, state, Observation(), name_back=name_back).steps)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_example_plan_from_empty_equals_the_bound(
    env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every environment of the example: the plan's writes are exactly the bound's (prod
    deploys under a given parent page, so it needs no root page)."""
    monkeypatch.setenv("NOTION_PARENT_PAGE_ID", "1" * 32)
    _, ws = load_workspace(EXAMPLE, env)
    bound = minimum_calls(ws)
    assert bound.writes == writes_from_empty(ws)
    assert 7 == bound.databases and 1 == bound.discovery_reads
    assert (0 if env == "prod" else 1) == bound.root_page


def test_example_dev_parts() -> None:
    """dev: 1 read + 1 root page + 7 databases + 4 schema updates + 35 rows = 48 calls, the
    figure the README and the benchmarks quote (47 writes)."""
    _, ws = load_workspace(EXAMPLE, "dev")
    bound = minimum_calls(ws)
    assert 35 == bound.rows and 0 == bound.row_links
    assert 4 == bound.schema_updates
    assert (48, 47) == (bound.total, bound.writes)
    assert 5040 == bound.orders_tried  # 7! creation orders


def test_independent_databases_need_no_update() -> None:
    """Relations pointing one way only: creating targets first avoids every update."""
    ws = workspace(
        {
            "a": {"title": "A", "properties": {"Name": "title"}},
            "b": {
                "title": "B",
                "properties": {"Name": "title", "A": {"type": "relation", "to": "a"}},
            },
        },
        parent={"page_id": "0" * 32},
    )
    bound = minimum_calls(ws)
    assert (0, 2, 0) == (bound.root_page, bound.databases, bound.schema_updates)
    assert bound.writes == writes_from_empty(ws) == 2


def test_self_relation_needs_one_update() -> None:
    """A relation to its own database needs that database's id: one update after the create."""
    ws = workspace(
        {
            "tasks": {
                "title": "Tasks",
                "properties": {"Name": "title", "Parent": {"type": "relation", "to": "tasks"}},
            }
        }
    )
    bound = minimum_calls(ws)
    assert 1 == bound.schema_updates
    assert bound.writes == writes_from_empty(ws)


def test_cycle_through_a_back_property_needs_one_update() -> None:
    """A rolls up over the back property of B's relation to A: one of them must wait."""
    ws = workspace(
        {
            "a": {
                "title": "A",
                "properties": {
                    "Name": "title",
                    "Count": {
                        "type": "rollup",
                        "relation": "Bs",
                        "property": "Name",
                        "function": "count",
                    },
                },
            },
            "b": {
                "title": "B",
                "properties": {
                    "Name": "title",
                    "A": {"type": "relation", "to": "a", "synced_as": "Bs"},
                },
            },
        }
    )
    bound = minimum_calls(ws)
    assert 1 == bound.schema_updates
    assert bound.writes == writes_from_empty(ws)


def test_seed_rows_linking_each_other_need_a_second_write() -> None:
    """Two rows of one database that point at each other: one must be linked after both exist."""
    ws = workspace(
        {
            "people": {
                "title": "People",
                "properties": {"Name": "title", "Buddy": {"type": "relation", "to": "people"}},
                "rows": [{"Name": "Ann", "Buddy": "Bob"}, {"Name": "Bob", "Buddy": "Ann"}],
            }
        }
    )
    bound = minimum_calls(ws)
    assert 2 == bound.rows and 1 == bound.row_links
    assert bound.writes == writes_from_empty(ws)
