"""Data source queries equal a plain Python evaluation of the same filter and sort.

One data source of forty rows (empties, case variants, ties, dates near day boundaries in
several offsets) is built once per module. Hypothesis draws filters and sorts, the official
client runs them with small page sizes (so cursors are walked too), and the ids, in order,
must equal what the model below computes over the page JSON the API itself returned.

The model is written from the documented semantics (``devfactory.emulator.query``'s
docstring and the API fact sheet §9), never from the server's code:

* ``contains`` / ``starts_with`` / ``ends_with`` ignore case (``str.casefold``); ``equals``
  and ``does_not_equal`` are exact; negative conditions keep empty values.
* A filter date given as a day compares by the UTC day of the value's start; a filter date
  with a time compares instants (a value that is a day counts as midnight UTC). A naive
  datetime value with a ``time_zone`` is a wall-clock time in that zone.
* Select ``equals`` / ``does_not_equal`` and multi-select ``contains`` / ``does_not_contain``
  take a name or an array of names; an array means "any of them".
* Sorts: empty values last in both directions; ties keep creation order; text by casefold
  then the original; select by the schema's option order; checkbox false before true;
  dates by start instant.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import notion_client
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    max_examples=60,
)

# ---------------------------------------------------------------------------- the table

SELECT_OPTIONS = ["Beta", "alpha", "Alpha", "gamma", "Delta"]
TAG_OPTIONS = ["red", "Red", "green", "blue", "dark blue"]
TEXTS = [
    "",
    "",
    "apple",
    "Apple",
    "APPLE",
    "apple pie",
    "Pineapple",
    "banana",
    "Banana",
    "cherry tart",
    "Straße",
    "STRASSE",
    "ß",
    "Éclair",
    "éclair",
    "zebra",
    "a",
    " spaced ",
    "x_y-z",
    "日本語",
    "10",
    "9",
]
NUMBERS: list[int | float | None] = [
    None,
    None,
    0,
    1,
    1,
    -1,
    2.5,
    -2.5,
    3,
    10,
    1_000_000,
    -0.001,
    0.1 + 0.2,
    0.3,
]
DATES: list[dict[str, Any] | None] = [
    None,
    None,
    {"start": "2026-01-09"},
    {"start": "2026-01-10"},
    {"start": "2026-01-10"},
    {"start": "2026-01-11"},
    {"start": "2026-01-10T00:00:00Z"},
    {"start": "2026-01-10T12:00:00Z"},
    {"start": "2026-01-10T17:00:00+05:00"},
    {"start": "2026-01-10T00:30:00+02:00"},
    {"start": "2026-01-10T23:30:00-05:00"},
    {"start": "2026-01-09T23:59:59.999Z"},
    {"start": "2026-01-10T09:00:00", "time_zone": "Asia/Tokyo"},
    {"start": "2026-01-11T01:00:00", "time_zone": "America/New_York"},
]
URLS = [None, None, "https://a.example", "https://A.example/Path", "http://b.example/apple"]
ROWS = 40
SEED = 20260110


def _rich(value: str, rng: random.Random) -> list[dict[str, Any]]:
    """``value`` as one or two text items (plain text is their concatenation)."""
    if not value:
        return []
    items: list[dict[str, Any]] = []
    cut = rng.randrange(1, len(value) + 1) if rng.random() < 0.3 else len(value)
    for piece in (value[:cut], value[cut:]):
        if piece:
            item: dict[str, Any] = {"text": {"content": piece}}
            if rng.random() < 0.3:
                item["annotations"] = {"bold": True}
            items.append(item)
    return items


def _row_properties(rng: random.Random) -> dict[str, Any]:
    props: dict[str, Any] = {
        "Name": {"title": _rich(rng.choice(TEXTS), rng)},
        "Notes": {"rich_text": _rich(rng.choice(TEXTS), rng)},
        "Num": {"number": rng.choice(NUMBERS)},
        "Tags": {
            "multi_select": [{"name": n} for n in rng.sample(TAG_OPTIONS, rng.randrange(0, 4))]
        },
        "Done": {"checkbox": rng.random() < 0.5},
        "When": {"date": rng.choice(DATES)},
        "Link": {"url": rng.choice(URLS)},
    }
    choice = rng.choice([None, None, *SELECT_OPTIONS])
    props["Sel"] = {"select": None if choice is None else {"name": choice}}
    return props


@dataclass(frozen=True)
class Row:
    """One row as the API returned it, with its creation index."""

    index: int
    id: str
    props: dict[str, Any]


@dataclass(frozen=True)
class Table:
    """The data source under test: its id, its rows in creation order, its select order."""

    ds_id: str
    rows: list[Row]
    select_order: list[str]

    def __repr__(self) -> str:
        return f"Table({self.ds_id!r}, {len(self.rows)} rows)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


@pytest.fixture(scope="module")
def table(client: notion_client.Client) -> Table:
    """Forty seeded rows covering every filtered type, read back once with pages.retrieve."""
    root = client.pages.create(
        parent={"type": "workspace", "workspace": True},
        properties={"title": [{"text": {"content": "query model"}}]},
    )
    db = client.databases.create(
        parent={"type": "page_id", "page_id": root["id"]},
        title=[{"text": {"content": "Model"}}],
        initial_data_source={
            "properties": {
                "Name": {"title": {}},
                "Notes": {"rich_text": {}},
                "Num": {"number": {}},
                "Sel": {"select": {"options": [{"name": n} for n in SELECT_OPTIONS]}},
                "Tags": {"multi_select": {"options": [{"name": n} for n in TAG_OPTIONS]}},
                "Done": {"checkbox": {}},
                "When": {"date": {}},
                "Link": {"url": {}},
            }
        },
    )
    ds_id = db["data_sources"][0]["id"]
    rng = random.Random(SEED)
    ids = [
        client.pages.create(parent={"data_source_id": ds_id}, properties=_row_properties(rng))["id"]
        for _ in range(ROWS)
    ]
    rows = [Row(i, pid, client.pages.retrieve(pid)["properties"]) for i, pid in enumerate(ids)]
    schema = client.data_sources.retrieve(ds_id)["properties"]
    order = [o["name"] for o in schema["Sel"]["select"]["options"]]
    return Table(ds_id, rows, order)


# ---------------------------------------------------------------------------- the model


def text_value(prop: dict[str, Any]) -> str:
    """The plain text of a title, rich_text or url value ("" when empty)."""
    if prop["type"] in ("title", "rich_text"):
        return "".join(item["plain_text"] for item in prop[prop["type"]])
    return str(prop[prop["type"]] or "")


def _parse_point(text: str, time_zone: str | None) -> date | datetime:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(time_zone) if time_zone else UTC)
    return moment


def date_start(prop: dict[str, Any]) -> date | datetime | None:
    """The start of a date value: a day, an aware datetime, or None."""
    value = prop["date"]
    if value is None:
        return None
    return _parse_point(value["start"], value.get("time_zone"))


def as_instant(point: date | datetime) -> datetime:
    """A day counts as midnight UTC."""
    if isinstance(point, datetime):
        return point
    return datetime(point.year, point.month, point.day, tzinfo=UTC)


def as_day(point: date | datetime) -> date:
    """The UTC calendar day of a point."""
    if isinstance(point, datetime):
        return point.astimezone(UTC).date()
    return point


def _compare(op: str, left: Any, right: Any) -> bool:
    return {
        "equals": left == right,
        "before": left < right,
        "after": left > right,
        "on_or_before": left <= right,
        "on_or_after": left >= right,
        "greater_than": left > right,
        "less_than": left < right,
        "greater_than_or_equal_to": left >= right,
        "less_than_or_equal_to": left <= right,
    }[op]


def _text_matches(op: str, arg: Any, value: str) -> bool:
    if op == "is_empty":
        return value == ""
    if op == "is_not_empty":
        return value != ""
    folded, needle = value.casefold(), str(arg).casefold()
    return {
        "equals": value == arg,
        "does_not_equal": value != arg,
        "contains": needle in folded,
        "does_not_contain": needle not in folded,
        "starts_with": folded.startswith(needle),
        "ends_with": folded.endswith(needle),
    }[op]


def _names(arg: Any) -> set[str]:
    return set(arg) if isinstance(arg, list) else {arg}


def leaf_matches(flt: dict[str, Any], row: Row) -> bool:
    """One property filter on one row."""
    prop = row.props[flt["property"]]
    [(kind, condition)] = [(k, c) for k, c in flt.items() if k != "property"]
    [(op, arg)] = condition.items()
    if kind in ("title", "rich_text", "url"):
        return _text_matches(op, arg, text_value(prop))
    if kind == "number":
        number = prop["number"]
        if op in ("is_empty", "is_not_empty"):
            return (number is None) == (op == "is_empty")
        if op == "does_not_equal":
            return number is None or number != arg
        return number is not None and _compare(op, number, arg)
    if kind == "checkbox":
        return (prop["checkbox"] == arg) == (op == "equals")
    if kind == "select":
        name = None if prop["select"] is None else prop["select"]["name"]
        if op in ("is_empty", "is_not_empty"):
            return (name is None) == (op == "is_empty")
        return (name in _names(arg)) == (op == "equals")
    if kind == "multi_select":
        names = {o["name"] for o in prop["multi_select"]}
        if op in ("is_empty", "is_not_empty"):
            return (not names) == (op == "is_empty")
        return bool(names & _names(arg)) == (op == "contains")
    if kind == "date":
        start = date_start(prop)
        if op in ("is_empty", "is_not_empty"):
            return (start is None) == (op == "is_empty")
        if start is None:
            return False
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", arg):
            return _compare(op, as_day(start), date.fromisoformat(arg))
        target = datetime.fromisoformat(arg)
        return _compare(op, as_instant(start), target)
    raise AssertionError(f"the model has no rule for filter type {kind}")


def matches(flt: dict[str, Any], row: Row) -> bool:
    """A filter tree on one row."""
    if "and" in flt:
        return all(matches(part, row) for part in flt["and"])
    if "or" in flt:
        return any(matches(part, row) for part in flt["or"])
    return leaf_matches(flt, row)


def sort_value(table: Table, row: Row, name: str) -> Any:
    """The comparable value of a property for sorting; None means empty."""
    prop = row.props[name]
    kind = prop["type"]
    if kind in ("title", "rich_text", "url"):
        text = text_value(prop)
        return (text.casefold(), text) if text else None
    if kind == "number":
        return prop["number"]
    if kind == "checkbox":
        return int(prop["checkbox"])
    if kind == "select":
        option = prop["select"]
        return None if option is None else table.select_order.index(option["name"])
    if kind == "date":
        start = date_start(prop)
        return None if start is None else as_instant(start)
    raise AssertionError(f"the model has no sort rule for {kind}")


def model_ids(table: Table, flt: dict[str, Any] | None, sorts: list[dict[str, str]]) -> list[str]:
    """What the query should answer: matching rows, ordered by the sorts."""
    rows = [r for r in table.rows if flt is None or matches(flt, r)]

    def compare(a: Row, b: Row) -> int:
        for sort in sorts:
            left = sort_value(table, a, sort["property"])
            right = sort_value(table, b, sort["property"])
            if left is None or right is None:
                if left is None and right is None:
                    continue
                return 1 if left is None else -1
            if left != right:
                order = -1 if left < right else 1
                return -order if sort["direction"] == "descending" else order
        return a.index - b.index

    return [r.id for r in sorted(rows, key=functools.cmp_to_key(compare))]


# ---------------------------------------------------------------------------- the server


def query_ids(client: notion_client.Client, ds_id: str, page_size: int, **body: Any) -> list[str]:
    """All result ids, following next_cursor page by page."""
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(ROWS + 2):
        extra = {"start_cursor": cursor} if cursor else {}
        page = client.data_sources.query(ds_id, page_size=page_size, **body, **extra)
        ids += [result["id"] for result in page["results"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            return ids
        assert page_size == len(page["results"])
        cursor = page["next_cursor"]
    raise AssertionError("the cursor chain did not end")


def run(
    client: notion_client.Client,
    table: Table,
    flt: dict[str, Any] | None,
    sorts: list[dict[str, str]],
    page_size: int,
) -> list[str]:
    body: dict[str, Any] = {}
    if flt is not None:
        body["filter"] = flt
    if sorts:
        body["sorts"] = sorts
    return query_ids(client, table.ds_id, page_size, **body)


# ---------------------------------------------------------------------------- strategies

PAGE_SIZES = st.one_of(st.integers(min_value=1, max_value=12), st.just(100))
NEEDLES = [
    "apple",
    "APPLE",
    "App",
    "pie",
    "PINE",
    "an",
    "ss",
    "SS",
    "ß",
    "straße",
    "é",
    "ÉCLAIR",
    "日本",
    "a",
    "A",
    " ",
    "z",
    "10",
    "https",
    "A.EXAMPLE",
    "example/apple",
    "path",
    "nothing-here",
]
TEXT_ARGS = st.one_of(
    st.sampled_from(NEEDLES),
    st.sampled_from([t for t in TEXTS if t] + [u for u in URLS if u]),
    st.text(alphabet="aApPeElLsSß ", min_size=1, max_size=4),
)
TEXT_PROPS = {"Name": "title", "Notes": "rich_text", "Link": "url"}
NUMBER_ARGS = st.one_of(
    st.sampled_from([0, 1, -1, 2.5, -2.5, 3, 0.3, 0.1 + 0.2, 1_000_000, -0.001, 10]),
    st.integers(min_value=-3, max_value=12),
    st.floats(min_value=-5, max_value=5, allow_nan=False),
)
SELECT_ARGS = st.sampled_from([*SELECT_OPTIONS, "ALPHA", "Nope"])
TAG_ARGS = st.sampled_from([*TAG_OPTIONS, "RED", "Nope"])
DAYS = [f"2026-01-{d:02d}" for d in range(8, 13)]
OFFSETS = [timezone(timedelta(minutes=m)) for m in (0, 120, -300, 330, 540, -420)]
FIXED_INSTANTS = [
    "2026-01-10T12:00:00Z",
    "2026-01-10T12:00:00.000+00:00",
    "2026-01-10T14:00:00+02:00",
    "2026-01-10T00:00:00Z",
    "2026-01-09T22:30:00Z",
    "2026-01-11T04:30:00+00:00",
    "2026-01-10T05:00:00-07:00",
    "2026-01-09T23:59:59.999Z",
]
DATETIME_ARGS = st.one_of(
    st.sampled_from(FIXED_INSTANTS),
    st.builds(
        lambda moment, zone: moment.replace(tzinfo=zone).isoformat(),
        st.datetimes(min_value=datetime(2026, 1, 8), max_value=datetime(2026, 1, 13)),
        st.sampled_from(OFFSETS),
    ),
)


def _one_or_many(names: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.one_of(names, st.lists(names, min_size=1, max_size=3, unique=True))


def _flag(op: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.just({op: True})


def text_filters() -> st.SearchStrategy[dict[str, Any]]:
    """A title, rich_text or url condition."""
    ops = ["equals", "does_not_equal", "contains", "does_not_contain", "starts_with", "ends_with"]
    condition = st.one_of(
        st.builds(lambda op, arg: {op: arg}, st.sampled_from(ops), TEXT_ARGS),
        _flag("is_empty"),
        _flag("is_not_empty"),
    )
    return st.builds(
        lambda name, cond: {"property": name, TEXT_PROPS[name]: cond},
        st.sampled_from(sorted(TEXT_PROPS)),
        condition,
    )


def number_filters() -> st.SearchStrategy[dict[str, Any]]:
    """A number condition."""
    ops = [
        "equals",
        "does_not_equal",
        "greater_than",
        "less_than",
        "greater_than_or_equal_to",
        "less_than_or_equal_to",
    ]
    condition = st.one_of(
        st.builds(lambda op, arg: {op: arg}, st.sampled_from(ops), NUMBER_ARGS),
        _flag("is_empty"),
        _flag("is_not_empty"),
    )
    return st.builds(lambda cond: {"property": "Num", "number": cond}, condition)


def select_filters() -> st.SearchStrategy[dict[str, Any]]:
    """A select condition, names given as a string or an array."""
    condition = st.one_of(
        st.builds(
            lambda op, arg: {op: arg},
            st.sampled_from(["equals", "does_not_equal"]),
            _one_or_many(SELECT_ARGS),
        ),
        _flag("is_empty"),
        _flag("is_not_empty"),
    )
    return st.builds(lambda cond: {"property": "Sel", "select": cond}, condition)


def multi_select_filters() -> st.SearchStrategy[dict[str, Any]]:
    """A multi_select condition, names given as a string or an array."""
    condition = st.one_of(
        st.builds(
            lambda op, arg: {op: arg},
            st.sampled_from(["contains", "does_not_contain"]),
            _one_or_many(TAG_ARGS),
        ),
        _flag("is_empty"),
        _flag("is_not_empty"),
    )
    return st.builds(lambda cond: {"property": "Tags", "multi_select": cond}, condition)


def checkbox_filters() -> st.SearchStrategy[dict[str, Any]]:
    """A checkbox condition."""
    return st.builds(
        lambda op, arg: {"property": "Done", "checkbox": {op: arg}},
        st.sampled_from(["equals", "does_not_equal"]),
        st.booleans(),
    )


def date_filters() -> st.SearchStrategy[dict[str, Any]]:
    """A date condition against a day or an instant."""
    ops = ["equals", "before", "after", "on_or_before", "on_or_after"]
    condition = st.one_of(
        st.builds(
            lambda op, arg: {op: arg},
            st.sampled_from(ops),
            st.one_of(st.sampled_from(DAYS), DATETIME_ARGS),
        ),
        _flag("is_empty"),
        _flag("is_not_empty"),
    )
    return st.builds(lambda cond: {"property": "When", "date": cond}, condition)


LEAVES = st.one_of(
    text_filters(),
    number_filters(),
    select_filters(),
    multi_select_filters(),
    checkbox_filters(),
    date_filters(),
)


def _compound(parts: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda key, items: {key: items},
        st.sampled_from(["and", "or"]),
        st.lists(parts, min_size=1, max_size=3),
    )


# Two levels of compounds at most, as Notion allows.
COMPOUNDS = _compound(st.one_of(LEAVES, _compound(LEAVES)))
FILTERS = st.one_of(LEAVES, COMPOUNDS)
SORTABLE = ["Name", "Notes", "Num", "Sel", "Done", "When", "Link"]
SORTS = st.lists(
    st.builds(
        lambda name, direction: {"property": name, "direction": direction},
        st.sampled_from(SORTABLE),
        st.sampled_from(["ascending", "descending"]),
    ),
    max_size=2,
    unique_by=lambda s: s["property"],
)


# ---------------------------------------------------------------------------- tests


def _check(
    client: notion_client.Client,
    table: Table,
    flt: dict[str, Any] | None,
    sorts: list[dict[str, str]],
    page_size: int,
) -> None:
    assert model_ids(table, flt, sorts) == run(client, table, flt, sorts, page_size)


class TestTable:
    def test_rows_cover_empties_ties_and_case_variants(self, table: Table) -> None:
        """The seeded table holds empties, repeated values and case variants for the model."""
        titles = [text_value(r.props["Name"]) for r in table.rows]
        numbers = [r.props["Num"]["number"] for r in table.rows]
        assert ROWS == len(table.rows)
        assert "" in titles and len(set(titles)) < ROWS
        assert {"apple", "Apple"} <= set(titles) or {"banana", "Banana"} <= set(titles)
        assert None in numbers and len(set(numbers)) < ROWS
        assert None in [date_start(r.props["When"]) for r in table.rows]

    def test_unfiltered_query_lists_rows_in_creation_order(
        self, client: notion_client.Client, table: Table
    ) -> None:
        """No filter and no sort: every row, in creation order, across pages of seven."""
        assert [r.id for r in table.rows] == query_ids(client, table.ds_id, 7)

    def test_results_carry_the_same_page_json(
        self, client: notion_client.Client, table: Table
    ) -> None:
        """Query results show the same property values pages.retrieve showed."""
        result = client.data_sources.query(table.ds_id, page_size=100)["results"]
        assert [r.props for r in table.rows] == [page["properties"] for page in result]


class TestFilters:
    @SETTINGS
    @given(flt=text_filters(), page_size=PAGE_SIZES)
    def test_text_filters(
        self, client: notion_client.Client, table: Table, flt: dict[str, Any], page_size: int
    ) -> None:
        """Title, rich_text and url conditions select what the model selects."""
        _check(client, table, flt, [], page_size)

    @SETTINGS
    @given(flt=number_filters(), page_size=PAGE_SIZES)
    def test_number_filters(
        self, client: notion_client.Client, table: Table, flt: dict[str, Any], page_size: int
    ) -> None:
        """Number comparisons, equality and emptiness select what the model selects."""
        _check(client, table, flt, [], page_size)

    @SETTINGS
    @given(flt=select_filters(), page_size=PAGE_SIZES)
    def test_select_filters(
        self, client: notion_client.Client, table: Table, flt: dict[str, Any], page_size: int
    ) -> None:
        """Select equals / does_not_equal (string or array) and emptiness match the model."""
        _check(client, table, flt, [], page_size)

    @SETTINGS
    @given(flt=multi_select_filters(), page_size=PAGE_SIZES)
    def test_multi_select_filters(
        self, client: notion_client.Client, table: Table, flt: dict[str, Any], page_size: int
    ) -> None:
        """Multi-select contains / does_not_contain (string or array) match the model."""
        _check(client, table, flt, [], page_size)

    @settings(SETTINGS, max_examples=8)
    @given(flt=checkbox_filters(), page_size=PAGE_SIZES)
    def test_checkbox_filters(
        self, client: notion_client.Client, table: Table, flt: dict[str, Any], page_size: int
    ) -> None:
        """Checkbox equals / does_not_equal match the model."""
        _check(client, table, flt, [], page_size)

    @settings(SETTINGS, max_examples=100)
    @given(flt=date_filters(), page_size=PAGE_SIZES)
    def test_date_filters(
        self, client: notion_client.Client, table: Table, flt: dict[str, Any], page_size: int
    ) -> None:
        """Date conditions by day (UTC) or by instant, and emptiness, match the model."""
        _check(client, table, flt, [], page_size)

    @settings(SETTINGS, max_examples=80)
    @given(flt=COMPOUNDS, page_size=PAGE_SIZES)
    def test_compound_filters(
        self, client: notion_client.Client, table: Table, flt: dict[str, Any], page_size: int
    ) -> None:
        """``and`` / ``or`` nested up to two levels combine leaves as the model does."""
        _check(client, table, flt, [], page_size)


class TestSorts:
    @settings(SETTINGS, max_examples=80)
    @given(sorts=SORTS, page_size=PAGE_SIZES)
    def test_sorts(
        self,
        client: notion_client.Client,
        table: Table,
        sorts: list[dict[str, str]],
        page_size: int,
    ) -> None:
        """Zero to two sort keys order every row as the model does, empties last, ties stable."""
        _check(client, table, None, sorts, page_size)

    @settings(SETTINGS, max_examples=120)
    @given(flt=FILTERS, sorts=SORTS, page_size=PAGE_SIZES)
    def test_filter_and_sorts_together(
        self,
        client: notion_client.Client,
        table: Table,
        flt: dict[str, Any],
        sorts: list[dict[str, str]],
        page_size: int,
    ) -> None:
        """Any filter with any sorts, paged, gives the model's ids in the model's order."""
        _check(client, table, flt, sorts, page_size)
