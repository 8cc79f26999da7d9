"""The rollup model of NDB-IP1.3: what each rollup function should show, from the rows."""

from __future__ import annotations

from typing import Any

import pytest

from devfactory.deploy.desired import DesiredDatabase, DesiredProperty, DesiredWorkspace
from devfactory.suites.rollups import (
    actual,
    expected,
    input_value,
    relation_mismatches,
    rollup_mismatches,
)

D1 = {"start": "2026-01-10", "end": None}
D2 = {"start": "2026-03-01T09:00:00.000+00:00", "end": "2026-03-02", "time_zone": None}


class TestExpected:
    @pytest.mark.parametrize(
        ("function", "values", "want"),
        [
            ("count", [1, None, 3], 3),
            ("count_values", [1, None, [1, 2], ""], 3),
            ("empty", [1, None, "", False], 2),
            ("not_empty", [1, None, "", False], 2),
            ("percent_not_empty", [1, None, 0, None], 0.5),
            ("percent_empty", [], 0),
            ("sum", [1, 2.5, None, True], 3.5),
            ("sum", [], 0),
            ("average", [1, 2], 1.5),
            ("average", [None], None),
            ("min", [3, 1, 2], 1),
            ("max", [3, 1, 2], 3),
            ("checked", [True, False, True], 2),
            ("unchecked", [True, False, True], 1),
            ("percent_checked", [True, False, True, True], 0.75),
            ("percent_unchecked", [], 0),
            ("earliest_date", [D2, D1], "2026-01-10"),
            ("latest_date", [D1, D2], "2026-03-02"),
            ("latest_date", [None], None),
        ],
    )
    def test_function(self, function: str, values: list[Any], want: Any) -> None:
        """Each modelled function aggregates as Notion documents it."""
        assert want == expected(function, values)

    def test_unmodelled_function(self) -> None:
        """show_original is not modelled: KeyError, reported as not checked."""
        with pytest.raises(KeyError):
            expected("show_original", [])


class TestValues:
    @pytest.mark.parametrize(
        ("value", "want"),
        [
            ({"type": "number", "number": 4}, 4),
            ({"type": "checkbox", "checkbox": False}, False),
            ({"type": "title", "title": [{"plain_text": "A"}, {"plain_text": "b"}]}, "Ab"),
            ({"type": "select", "select": {"name": "Open"}}, "Open"),
            ({"type": "select", "select": None}, None),
            ({"type": "formula", "formula": {"type": "number", "number": 2}}, 2),
            ({"type": "rollup", "rollup": {"type": "number", "number": 7}}, 7),
            ({"type": "date", "date": D1}, D1),
            (None, None),
        ],
    )
    def test_input_value(self, value: Any, want: Any) -> None:
        """A related page's value as a rollup reads it."""
        assert want == input_value(value)

    def test_actual(self) -> None:
        """A rollup's answer: its number, or its date's start."""
        assert 3 == actual({"type": "rollup", "rollup": {"type": "number", "number": 3}})
        date = {"type": "rollup", "rollup": {"type": "date", "date": {"start": "2026-01-10"}}}
        assert "2026-01-10" == actual(date)


def _ws() -> DesiredWorkspace:
    link = DesiredProperty(
        "Projects", "relation", {"to": "projects", "dual": True, "synced_as": "Client"}
    )
    back = DesiredProperty(
        "Client", "relation", {"to": "clients", "dual": True, "synced_as": "Projects"},
        back_of=("clients", "Projects"),
    )  # fmt: skip
    clients = DesiredDatabase(
        "clients", "Clients", None, None, False, False,
        {
            "Name": DesiredProperty("Name", "title", {}),
            "Projects": link,
            "Budget": DesiredProperty(
                "Budget", "rollup", {"relation": "Projects", "property": "Cost", "function": "sum"}
            ),
            "Shown": DesiredProperty(
                "Shown", "rollup",
                {"relation": "Projects", "property": "Cost", "function": "show_original"},
            ),
        },
    )  # fmt: skip
    projects = DesiredDatabase(
        "projects", "Projects", None, None, False, False,
        {"Name": DesiredProperty("Name", "title", {}), "Client": back,
         "Cost": DesiredProperty("Cost", "number", {})},
    )  # fmt: skip
    return DesiredWorkspace("w", "default", None, {"clients": clients, "projects": projects}, "h")


def _row(page_id: str, title: str, **props: Any) -> dict[str, Any]:
    properties = {"Name": {"type": "title", "title": [{"plain_text": title}]}, **props}
    return {"id": page_id, "properties": properties}


def _rel(*ids: str) -> dict[str, Any]:
    return {"type": "relation", "relation": [{"id": i} for i in ids]}


def _rows(total: float, back: tuple[str, ...] = ("c1",)) -> dict[str, list[dict[str, Any]]]:
    rollup = {"type": "rollup", "rollup": {"type": "number", "number": total}}
    return {
        "clients": [_row("c1", "Acme", Projects=_rel("p1", "p2"), Budget=rollup, Shown={})],
        "projects": [
            _row("p1", "One", Client=_rel(*back), Cost={"type": "number", "number": 10}),
            _row("p2", "Two", Client=_rel("c1"), Cost={"type": "number", "number": 5}),
        ],
    }


class TestWorkspace:
    def test_matching_rollups(self) -> None:
        """A sum that matches its related rows: checked, no mismatch; show_original noted."""
        result = rollup_mismatches(_ws(), _rows(15))
        assert (1, 1, [], ["clients.Shown (show_original)"]) == (
            result.rollups, result.checked, result.mismatches, result.not_modelled,
        )  # fmt: skip

    def test_wrong_rollup_is_named(self) -> None:
        """A sum that does not match names the row, the function and both values."""
        result = rollup_mismatches(_ws(), _rows(14))
        assert ['clients.Budget on "Acme": sum is 14, the 2 related rows give 15.0'] == (
            result.mismatches
        )

    def test_relations_agree_both_ways(self) -> None:
        """Links seen from both sides agree; a link on one side only is named."""
        assert (2, []) == relation_mismatches(_ws(), _rows(15))
        checked, problems = relation_mismatches(_ws(), _rows(15, back=()))
        assert 2 == checked
        assert ["clients.Projects <-> projects.Client: link c1 -> p1 only on clients.Projects"] == (
            problems
        )
