"""Date and timestamp filter semantics against a fixed "now" (2026-03-18 15:30 UTC, a Wednesday)."""

from __future__ import annotations

from typing import Any

import pytest

from devfactory.emulator.query import compile_sorts, paginate, run_query
from devfactory.errors import NotionValidationError
from tests.unit.helpers import add_row, make_ctx, make_ds

DAYS = [
    "2026-03-10",
    "2026-03-16",
    "2026-03-17",
    "2026-03-18",
    "2026-03-22",
    "2026-03-23",
    "2026-04-18",
    "2027-01-01",
]


@pytest.fixture(scope="module")
def env() -> tuple[Any, Any, dict[str, str]]:
    ctx = make_ctx()
    ds = make_ds(ctx, {"Name": {"title": {}}, "Due": {"date": {}}})
    ids = {}
    for day in DAYS:
        page = add_row(
            ctx, ds, {"Name": [{"text": {"content": day}}], "Due": {"date": {"start": day}}}
        )
        ids[page.id] = day
    return ctx, ds, ids


def days(env: tuple[Any, Any, dict[str, str]], condition: dict[str, Any]) -> list[str]:
    ctx, ds, ids = env
    return [
        ids[p.id] for p in run_query(ctx, ds, {"filter": {"property": "Due", "date": condition}})
    ]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"equals": "today"}, ["2026-03-18"]),
        ({"before": "yesterday"}, ["2026-03-10", "2026-03-16"]),
        ({"on_or_after": "tomorrow"}, ["2026-03-22", "2026-03-23", "2026-04-18", "2027-01-01"]),
        ({"this_week": {}}, ["2026-03-16", "2026-03-17", "2026-03-18", "2026-03-22"]),
        ({"past_week": {}}, ["2026-03-16", "2026-03-17", "2026-03-18"]),
        ({"next_week": {}}, ["2026-03-18", "2026-03-22", "2026-03-23"]),
        ({"next_month": {}}, ["2026-03-18", "2026-03-22", "2026-03-23", "2026-04-18"]),
        ({"on_or_before": "one_month_from_now"}, DAYS[:7]),
        (
            {"after": "2026-03-18T12:00:00Z"},
            ["2026-03-22", "2026-03-23", "2026-04-18", "2027-01-01"],
        ),
        ({"past_year": {}}, ["2026-03-10", "2026-03-16", "2026-03-17", "2026-03-18"]),
    ],
)
def test_relative_and_range_conditions(
    env: tuple[Any, Any, dict[str, str]], condition: dict[str, Any], expected: list[str]
) -> None:
    """Relative days, week ranges (Monday to Sunday) and datetimes select the documented rows."""
    assert expected == days(env, condition)


def test_bad_relative_word(env: tuple[Any, Any, dict[str, str]]) -> None:
    """An unknown relative date is a validation error."""
    with pytest.raises(NotionValidationError):
        days(env, {"before": "someday"})


def test_timestamp_sort_and_cursor(env: tuple[Any, Any, dict[str, str]]) -> None:
    """Timestamp sorts validate, and a cursor not in the results is refused."""
    ctx, ds, _ = env
    assert 1 == len(
        compile_sorts(ctx, ds, [{"timestamp": "created_time", "direction": "descending"}])
    )
    with pytest.raises(NotionValidationError):
        compile_sorts(ctx, ds, [{"timestamp": "edited_at"}])
    with pytest.raises(NotionValidationError, match="cursor"):
        paginate([1, 2, 3], "nope", 2, str)
