"""All 24 rollup functions, computed on read from related rows."""

from __future__ import annotations

from typing import Any

import notion_client
import pytest

from devfactory.emulator.schema import ROLLUP_FUNCTIONS
from tests.conftest import text
from tests.integration.test_databases import make_db

# (function, rolled-up property, expected rollup value without "function")
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("count", "Budget", {"type": "number", "number": 3}),
    ("count_values", "Budget", {"type": "number", "number": 2}),
    ("empty", "Budget", {"type": "number", "number": 1}),
    ("not_empty", "Budget", {"type": "number", "number": 2}),
    ("unique", "Tags", {"type": "number", "number": 2}),
    ("percent_empty", "Budget", {"type": "number", "number": 1 / 3}),
    ("percent_not_empty", "Budget", {"type": "number", "number": 2 / 3}),
    ("sum", "Budget", {"type": "number", "number": 350}),
    ("average", "Budget", {"type": "number", "number": 175}),
    ("median", "Budget", {"type": "number", "number": 175}),
    ("min", "Budget", {"type": "number", "number": 100}),
    ("max", "Budget", {"type": "number", "number": 250}),
    ("range", "Budget", {"type": "number", "number": 150}),
    (
        "earliest_date",
        "Due",
        {"type": "date", "date": {"start": "2026-01-01", "end": None, "time_zone": None}},
    ),
    (
        "latest_date",
        "Due",
        {"type": "date", "date": {"start": "2026-03-01", "end": None, "time_zone": None}},
    ),
    (
        "date_range",
        "Due",
        {"type": "date", "date": {"start": "2026-01-01", "end": "2026-03-01", "time_zone": None}},
    ),
    ("checked", "Done", {"type": "number", "number": 2}),
    ("unchecked", "Done", {"type": "number", "number": 1}),
    ("percent_checked", "Done", {"type": "number", "number": 2 / 3}),
    ("percent_unchecked", "Done", {"type": "number", "number": 1 / 3}),
    ("count_per_group", "Tags", {"type": "unsupported", "unsupported": {}}),
    ("percent_per_group", "Tags", {"type": "unsupported", "unsupported": {}}),
]


@pytest.fixture(scope="module")
def acme(notion: Any) -> dict[str, Any]:
    client = notion_client.Client(auth=notion.token, base_url=notion.base_url, retry=False)
    root = client.pages.create(parent={"workspace": True}, properties={"title": text("rollups")})
    _, clients = make_db(client, root["id"], "Clients")
    _, projects = make_db(
        client,
        root["id"],
        "Projects",
        {
            "Name": {"title": {}},
            "Budget": {"number": {}},
            "Done": {"checkbox": {}},
            "Due": {"date": {}},
            "Tags": {"multi_select": {"options": [{"name": "a"}, {"name": "b"}]}},
            "Fee": {"formula": {"expression": 'prop("Budget") * 2'}},
            "Big": {"formula": {"expression": 'prop("Budget") > 150'}},
            "Client": {
                "relation": {
                    "data_source_id": clients,
                    "dual_property": {"synced_property_name": "Projects"},
                }
            },
        },
    )
    rollups = {
        f"R {fn}": {
            "rollup": {
                "relation_property_name": "Projects",
                "rollup_property_name": prop,
                "function": fn,
            }
        }
        for fn, prop, _ in CASES
    }
    rollups["R show_original"] = {
        "rollup": {
            "relation_property_name": "Projects",
            "rollup_property_name": "Budget",
            "function": "show_original",
        }
    }
    rollups["R show_unique"] = {
        "rollup": {
            "relation_property_name": "Projects",
            "rollup_property_name": "Tags",
            "function": "show_unique",
        }
    }
    for name, rolled, fn in (
        ("F sum", "Fee", "sum"),
        ("F max", "Fee", "max"),
        ("F checked", "Big", "checked"),
        ("F empty", "Fee", "empty"),
    ):
        rollups[name] = {
            "rollup": {
                "relation_property_name": "Projects",
                "rollup_property_name": rolled,
                "function": fn,
            }
        }
    client.data_sources.update(clients, properties=rollups)
    company = client.pages.create(
        parent={"data_source_id": clients}, properties={"Name": {"title": text("Acme")}}
    )
    for budget, done, due, tags in (
        (100, True, "2026-01-01", ["a"]),
        (250, False, "2026-03-01", ["a", "b"]),
        (None, True, None, []),
    ):
        props: dict[str, Any] = {
            "Budget": {"number": budget},
            "Done": {"checkbox": done},
            "Tags": {"multi_select": [{"name": t} for t in tags]},
            "Client": {"relation": [{"id": company["id"]}]},
        }
        if due:
            props["Due"] = {"date": {"start": due}}
        client.pages.create(parent={"data_source_id": projects}, properties=props)
    result: dict[str, Any] = client.pages.retrieve(company["id"])["properties"]
    client.close()
    return result


def test_every_function_is_covered() -> None:
    """The cases below exercise all 24 functions Notion defines."""
    assert ROLLUP_FUNCTIONS == {c[0] for c in CASES} | {"show_original", "show_unique"}
    assert 24 == len(ROLLUP_FUNCTIONS)


@pytest.mark.parametrize(("function", "prop", "expected"), CASES)
def test_rollup_function(
    acme: dict[str, Any], function: str, prop: str, expected: dict[str, Any]
) -> None:
    """Each function gives the value the related rows imply."""
    value = acme[f"R {function}"]["rollup"]
    assert function == value.pop("function")
    if expected["type"] == "number":
        assert expected["number"] == pytest.approx(value["number"])
    else:
        assert expected == value


def test_show_original_lists_every_related_value(acme: dict[str, Any]) -> None:
    """show_original returns each related row's value, empty ones included."""
    array = acme["R show_original"]["rollup"]["array"]
    assert [100, 250, None] == [item["number"] for item in array]
    assert {"number"} == {item["type"] for item in array}


def test_show_unique_drops_repeats_and_empties(acme: dict[str, Any]) -> None:
    """show_unique keeps one of each distinct non-empty value."""
    array = acme["R show_unique"]["rollup"]["array"]
    assert [["a"], ["a", "b"]] == [[o["name"] for o in item["multi_select"]] for item in array]


@pytest.mark.parametrize(
    ("name", "expected"), [("F sum", 700), ("F max", 500), ("F checked", 1), ("F empty", 1)]
)
def test_rollups_over_formulas_use_the_formula_values(
    acme: dict[str, Any], name: str, expected: float
) -> None:
    """A rollup over a formula aggregates the formula's results (Budget * 2: 200 + 500 + empty)."""
    assert expected == acme[name]["rollup"]["number"]
