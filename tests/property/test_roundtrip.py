"""Every writable property value round-trips through pages.create / pages.update / retrieve.

Hypothesis draws request values for each writable type; each strategy also says what
Notion answers for that value: the request in Notion's response shape, normalised only the
way Notion normalises (rich text gains full annotations, ``plain_text`` and ``href``;
datetimes come back as ``YYYY-MM-DDTHH:MM:SS.mmm`` plus ``+HH:MM`` when they had an offset;
ids come back dashed; select options gain their id and colour; people gain their profile;
relations gain ``has_more``). Values must also survive a server restart on the same file.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import notion_client
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devfactory.emulator.testing import LocalNotion

SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    max_examples=60,
)

COLORS = ["gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red"]
ANNOTATION_COLORS = ["default", *COLORS, *(f"{c}_background" for c in COLORS)]
DEFAULT_ANNOTATIONS = {
    "bold": False,
    "italic": False,
    "strikethrough": False,
    "underline": False,
    "code": False,
    "color": "default",
}
SELECT_OPTIONS = ["Red", "red", "Green", "Blue sky", "Ünïcode ✓"]
STATUS_NAMES = ["Not started", "In progress", "Done"]
TIME_ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
TARGET_ROWS = 5
SCHEMA: dict[str, Any] = {
    "Name": {"title": {}},
    "Text": {"rich_text": {}},
    "Amount": {"number": {"format": "number"}},
    "Choice": {"select": {"options": [{"name": n} for n in SELECT_OPTIONS]}},
    "Tags": {"multi_select": {"options": [{"name": n} for n in SELECT_OPTIONS]}},
    "Stage": {"status": {}},
    "When": {"date": {}},
    "Who": {"people": {}},
    "Docs": {"files": {}},
    "Done": {"checkbox": {}},
    "Site": {"url": {}},
    "Mail": {"email": {}},
    "Phone": {"phone_number": {}},
}


# ---------------------------------------------------------------------------- workspace


@dataclass(frozen=True)
class Workspace:
    """A data source with every writable type, the bot's people JSON and relation targets."""

    ds_id: str
    bot: dict[str, Any]
    targets: list[str]

    def __repr__(self) -> str:
        return f"Workspace({self.ds_id!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def build_workspace(client: notion_client.Client) -> Workspace:
    """Make the related data source (with rows) and the data source under test."""
    root = client.pages.create(
        parent={"type": "workspace", "workspace": True},
        properties={"title": [{"text": {"content": "round trip"}}]},
    )

    def database(title: str, properties: dict[str, Any]) -> str:
        db = client.databases.create(
            parent={"type": "page_id", "page_id": root["id"]},
            title=[{"text": {"content": title}}],
            initial_data_source={"properties": properties},
        )
        return str(db["data_sources"][0]["id"])

    target_ds = database("Targets", {"Name": {"title": {}}})
    targets = [
        client.pages.create(
            parent={"data_source_id": target_ds},
            properties={"Name": {"title": [{"text": {"content": f"t{i}"}}]}},
        )["id"]
        for i in range(TARGET_ROWS)
    ]
    ds_id = database(
        "Values",
        {**SCHEMA, "Links": {"relation": {"data_source_id": target_ds, "single_property": {}}}},
    )
    me = client.users.me()
    bot = {
        "object": "user",
        "id": me["id"],
        "name": me["name"],
        "avatar_url": me["avatar_url"],
        "type": "bot",
        "bot": {},
    }
    return Workspace(ds_id, bot, targets)


@pytest.fixture(scope="module")
def workspace(client: notion_client.Client) -> Workspace:
    """The shared workspace for the create and update round trips."""
    return build_workspace(client)


# ---------------------------------------------------------------------------- expectations


@dataclass(frozen=True)
class Option:
    """An expected select/status option, known by name until the schema gives id and colour."""

    name: str


@dataclass(frozen=True)
class Value:
    """A request value for one property and the value Notion answers with."""

    type: str
    request: Any
    expected: Any


def resolve(expected: Any, schema: dict[str, Any]) -> Any:
    """Replace :class:`Option` markers with the option JSON the schema now holds."""
    if isinstance(expected, Option):
        option = next(o for o in schema["options"] if o["name"] == expected.name)
        return {"id": option["id"], "name": option["name"], "color": option["color"]}
    if isinstance(expected, list):
        return [resolve(item, schema) for item in expected]
    return expected


def check_page(page: dict[str, Any], values: dict[str, Value], schema: dict[str, Any]) -> None:
    """Each property of ``page`` named in ``values`` shows the expected value."""
    for name, value in values.items():
        prop = page["properties"][name]
        assert value.type == prop["type"], name
        config = schema[name].get(value.type, {})
        expected = resolve(value.expected, config)
        assert expected == prop[value.type], name
        if value.type == "relation":
            assert prop["has_more"] is False


# ---------------------------------------------------------------------------- strategies

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30
) | st.sampled_from(["x" * 2000, "é" * 2000, "a\x00b", "line\nbreak\ttab", "😀👍🏽"])
HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)
URLS = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}.example/{path}",
    st.sampled_from(["https", "http"]),
    HOSTS,
    st.from_regex(r"[A-Za-z0-9._~%/-]{0,20}", fullmatch=True),
)
ANNOTATIONS = st.fixed_dictionaries(
    {},
    optional={
        "bold": st.booleans(),
        "italic": st.booleans(),
        "strikethrough": st.booleans(),
        "underline": st.booleans(),
        "code": st.booleans(),
        "color": st.sampled_from(ANNOTATION_COLORS),
    },
)


@st.composite
def text_items(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """One rich text item (text with optional link, or equation) and its response form."""
    annotations = draw(st.one_of(st.none(), ANNOTATIONS))
    full = {**DEFAULT_ANNOTATIONS, **(annotations or {})}
    if draw(st.integers(0, 5)) == 0:
        expression = draw(TEXT.filter(lambda s: len(s) <= 1000))
        request: dict[str, Any] = {"type": "equation", "equation": {"expression": expression}}
        expected = {
            "type": "equation",
            "equation": {"expression": expression},
            "annotations": full,
            "plain_text": expression,
            "href": None,
        }
    else:
        content = draw(TEXT)
        link = draw(st.one_of(st.none(), URLS))
        body: dict[str, Any] = {"content": content}
        if link is not None or draw(st.booleans()):
            body["link"] = None if link is None else {"url": link}
        request = {"text": body}
        if draw(st.booleans()):
            request["type"] = "text"
        expected = {
            "type": "text",
            "text": {"content": content, "link": None if link is None else {"url": link}},
            "annotations": full,
            "plain_text": content,
            "href": link,
        }
    if annotations is not None:
        request["annotations"] = annotations
    return request, expected


def rich_text(kind: str, max_items: int) -> st.SearchStrategy[Value]:
    """A title or rich_text array."""
    return st.builds(
        lambda items: Value(kind, [r for r, _ in items], [e for _, e in items]),
        st.lists(text_items(), max_size=max_items),
    )


NUMBERS = st.one_of(
    st.none(),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1e308, -1e-308, 5e-324, 0.1 + 0.2, 123456789.125]),
)
OPTION_NAMES = st.one_of(
    st.sampled_from(SELECT_OPTIONS),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=","),
        min_size=1,
        max_size=100,
    ).filter(lambda s: s.strip() == s),
)


def select_values() -> st.SearchStrategy[Value]:
    """No option, or an option by name (existing or new)."""
    return st.one_of(
        st.just(Value("select", None, None)),
        st.builds(lambda n: Value("select", {"name": n}, Option(n)), OPTION_NAMES),
    )


def multi_select_values() -> st.SearchStrategy[Value]:
    """Distinct option names, existing or new."""
    return st.builds(
        lambda names: Value(
            "multi_select", [{"name": n} for n in names], [Option(n) for n in names]
        ),
        st.lists(OPTION_NAMES, max_size=6, unique=True),
    )


def status_values() -> st.SearchStrategy[Value]:
    """No status, or one of the default status options."""
    return st.one_of(
        st.just(Value("status", None, None)),
        st.builds(lambda n: Value("status", {"name": n}, Option(n)), st.sampled_from(STATUS_NAMES)),
    )


# Datetimes before the year 1000 and named time zones have their own tests (TestDates), so
# that while those fail the other round trips still explore everything else.
EARLIEST = datetime(1000, 1, 1)
DATE_KINDS = ("empty", "day", "offset")
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


def _day(value: date) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def _wall_clock(value: datetime) -> str:
    """Notion's datetime form without the offset: ``YYYY-MM-DDTHH:MM:SS.mmm``."""
    return (
        f"{_day(value)}T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
        f".{value.microsecond // 1000:03d}"
    )


def _offset(value: datetime) -> str:
    delta = value.utcoffset()
    assert delta is not None
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _unambiguous(moment: datetime, zone: ZoneInfo) -> bool:
    """Whether a wall-clock time exists exactly once in ``zone`` (no DST gap or overlap)."""
    first, second = moment.replace(tzinfo=zone), moment.replace(tzinfo=zone, fold=1)
    back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return first.utcoffset() == second.utcoffset() and back == moment


@st.composite
def date_values(
    draw: st.DrawFn, *, earliest: datetime = EARLIEST, kinds: tuple[str, ...] = DATE_KINDS
) -> Value:
    """No date, a day or day range, or datetimes with UTC offsets or with a named time zone.

    Notion answers datetimes as ``YYYY-MM-DDTHH:MM:SS.mmm+HH:MM`` and ``time_zone`` always
    null: a named time zone comes back as that zone's offset at that moment (changelog
    "Time zone support": "The public API will always return the time_zone field as null
    when rendering dates and time zone will be displayed as a UTC offset").
    """
    kind = draw(st.sampled_from(kinds))
    if kind == "empty":
        return Value("date", None, None)
    ranged = draw(st.booleans())
    if kind == "day":
        days = sorted(draw(st.lists(st.dates(), min_size=2, max_size=2)))
        start, end = _day(days[0]), _day(days[1]) if ranged else None
        request: dict[str, Any] = {"start": start}
        if end is not None:
            request["end"] = end
        return Value("date", request, {"start": start, "end": end, "time_zone": None})
    if kind == "zone":
        zone = ZoneInfo(draw(st.sampled_from(TIME_ZONES)))
        wall = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2037, 12, 31))
        moments = sorted(
            draw(st.lists(wall.filter(lambda m: _unambiguous(m, zone)), min_size=2, max_size=2))
        )
        texts = [m.isoformat() for m in moments]
        expected = [_wall_clock(m) + _offset(m.replace(tzinfo=zone)) for m in moments]
        request = {"start": texts[0], "time_zone": zone.key}
    else:
        moments = sorted(draw(st.lists(st.datetimes(min_value=earliest), min_size=2, max_size=2)))
        offset = draw(OFFSETS)
        aware = [m.replace(tzinfo=offset) for m in moments]
        zulu = offset.utcoffset(None) == timedelta(0) and draw(st.booleans())
        texts = [m.replace(tzinfo=None).isoformat() + "Z" if zulu else m.isoformat() for m in aware]
        expected = [_wall_clock(m) + _offset(m) for m in aware]
        request = {"start": texts[0]}
    if ranged:
        request["end"] = texts[1]
    return Value(
        "date",
        request,
        {"start": expected[0], "end": expected[1] if ranged else None, "time_zone": None},
    )


def _id_form(draw: st.DrawFn, canonical: str) -> str:
    """An id as a client may send it: dashed or compact (the answer is always dashed)."""
    return draw(st.sampled_from([canonical, canonical.replace("-", "")]))


@st.composite
def people_values(draw: st.DrawFn, ws: Workspace) -> Value:
    """No one, or the integration's bot user."""
    if not draw(st.booleans()):
        return Value("people", [], [])
    ref: dict[str, Any] = {"id": _id_form(draw, ws.bot["id"])}
    if draw(st.booleans()):
        ref["object"] = "user"
    return Value("people", [ref], [ws.bot])


@st.composite
def relation_values(draw: st.DrawFn, ws: Workspace) -> Value:
    """Distinct rows of the related data source, in any order."""
    chosen = draw(st.lists(st.sampled_from(ws.targets), max_size=TARGET_ROWS, unique=True))
    return Value(
        "relation",
        [{"id": _id_form(draw, target)} for target in chosen],
        [{"id": target} for target in chosen],
    )


@st.composite
def file_values(draw: st.DrawFn) -> Value:
    """External files with names."""
    files = draw(st.lists(st.tuples(TEXT.filter(lambda s: len(s) <= 100), URLS), max_size=3))
    request = []
    for name, url in files:
        item: dict[str, Any] = {"name": name, "external": {"url": url}}
        if draw(st.booleans()):
            item["type"] = "external"
        request.append(item)
    expected = [{"name": n, "type": "external", "external": {"url": u}} for n, u in files]
    return Value("files", request, expected)


def plain(kind: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[Value]:
    """A value that comes back exactly as sent."""
    return st.builds(lambda x: Value(kind, x, x), values)


EMAILS = st.builds(
    lambda local, host: f"{local}@{host}.example",
    st.from_regex(r"[A-Za-z0-9._%+-]{1,20}", fullmatch=True),
    HOSTS,
)
PHONES = st.from_regex(r"\+?[0-9][0-9 ().-]{2,20}", fullmatch=True)


def property_values(ws: Workspace) -> dict[str, st.SearchStrategy[Value]]:
    """One strategy per property of the data source under test."""
    return {
        "Name": rich_text("title", 4),
        "Text": rich_text("rich_text", 6),
        "Amount": plain("number", NUMBERS),
        "Choice": select_values(),
        "Tags": multi_select_values(),
        "Stage": status_values(),
        "When": date_values(),
        "Who": people_values(ws),
        "Docs": file_values(),
        "Done": plain("checkbox", st.booleans()),
        "Site": plain("url", st.one_of(st.none(), URLS)),
        "Mail": plain("email", st.one_of(st.none(), EMAILS)),
        "Phone": plain("phone_number", st.one_of(st.none(), PHONES)),
        "Links": relation_values(ws),
    }


def all_values(ws: Workspace) -> st.SearchStrategy[dict[str, Value]]:
    """A value for every writable property."""
    return st.fixed_dictionaries(property_values(ws))


def some_values(ws: Workspace) -> st.SearchStrategy[dict[str, Value]]:
    """Values for a non-empty subset of the writable properties."""
    strategies = property_values(ws)
    return st.lists(st.sampled_from(sorted(strategies)), min_size=1, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({n: strategies[n] for n in names})
    )


def request_properties(values: dict[str, Value]) -> dict[str, Any]:
    """The ``properties`` body for pages.create / pages.update."""
    return {name: {value.type: value.request} for name, value in values.items()}


def schema_of(client: notion_client.Client, ds_id: str) -> dict[str, Any]:
    return client.data_sources.retrieve(ds_id)["properties"]  # type: ignore[no-any-return]


def without_request_id(page: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in page.items() if k != "request_id"}


# ---------------------------------------------------------------------------- tests


class TestCreateAndUpdate:
    @SETTINGS
    @given(data=st.data())
    def test_created_values_come_back_from_retrieve(
        self, client: notion_client.Client, workspace: Workspace, data: st.DataObject
    ) -> None:
        """pages.create then pages.retrieve shows every value in Notion's response shape."""
        values = data.draw(all_values(workspace), label="values")
        created = client.pages.create(
            parent={"data_source_id": workspace.ds_id}, properties=request_properties(values)
        )
        fetched = client.pages.retrieve(created["id"])
        schema = schema_of(client, workspace.ds_id)
        check_page(fetched, values, schema)
        assert without_request_id(created) == without_request_id(fetched)

    @SETTINGS
    @given(data=st.data())
    def test_updated_values_replace_only_what_was_sent(
        self, client: notion_client.Client, workspace: Workspace, data: st.DataObject
    ) -> None:
        """pages.update sets the values it names and leaves every other value as it was."""
        first = data.draw(all_values(workspace), label="first")
        second = data.draw(some_values(workspace), label="second")
        page = client.pages.create(
            parent={"data_source_id": workspace.ds_id}, properties=request_properties(first)
        )
        updated = client.pages.update(page["id"], properties=request_properties(second))
        fetched = client.pages.retrieve(page["id"])
        schema = schema_of(client, workspace.ds_id)
        check_page(fetched, {**first, **second}, schema)
        assert without_request_id(updated) == without_request_id(fetched)

    @settings(SETTINGS, max_examples=20)
    @given(data=st.data())
    def test_existing_options_keep_their_ids(
        self, client: notion_client.Client, workspace: Workspace, data: st.DataObject
    ) -> None:
        """Writing select and multi-select values never changes an existing option's id."""
        before = schema_of(client, workspace.ds_id)
        values = data.draw(
            st.fixed_dictionaries({"Choice": select_values(), "Tags": multi_select_values()})
        )
        client.pages.create(
            parent={"data_source_id": workspace.ds_id}, properties=request_properties(values)
        )
        after = schema_of(client, workspace.ds_id)
        for name, kind in (("Choice", "select"), ("Tags", "multi_select")):
            old = before[name][kind]["options"]
            assert old == after[name][kind]["options"][: len(old)]

    def test_option_referenced_by_id_round_trips(
        self, client: notion_client.Client, workspace: Workspace
    ) -> None:
        """A select value given as ``{"id": …}`` comes back as that option."""
        option = schema_of(client, workspace.ds_id)["Choice"]["select"]["options"][1]
        page = client.pages.create(
            parent={"data_source_id": workspace.ds_id},
            properties={"Choice": {"select": {"id": option["id"]}}},
        )
        assert {k: option[k] for k in ("id", "name", "color")} == client.pages.retrieve(page["id"])[
            "properties"
        ]["Choice"]["select"]


class TestDates:
    @SETTINGS
    @given(value=date_values(earliest=datetime.min, kinds=("offset",)))
    def test_datetimes_of_any_year_round_trip(
        self, client: notion_client.Client, workspace: Workspace, value: Value
    ) -> None:
        """Datetimes from year 1 to 9999 keep their four-digit year."""
        page = client.pages.create(
            parent={"data_source_id": workspace.ds_id},
            properties=request_properties({"When": value}),
        )
        fetched = client.pages.retrieve(page["id"])
        check_page(fetched, {"When": value}, schema_of(client, workspace.ds_id))

    @settings(SETTINGS, max_examples=30)
    @given(value=date_values(kinds=("zone",)))
    def test_named_time_zones_come_back_as_offsets(
        self, client: notion_client.Client, workspace: Workspace, value: Value
    ) -> None:
        """A wall-clock time in a named zone comes back with that zone's offset, time_zone null."""
        page = client.pages.create(
            parent={"data_source_id": workspace.ds_id},
            properties=request_properties({"When": value}),
        )
        fetched = client.pages.retrieve(page["id"])
        check_page(fetched, {"When": value}, schema_of(client, workspace.ds_id))


# ---------------------------------------------------------------------------- restart


class TestRestart:
    @settings(SETTINGS, max_examples=6)
    @given(data=st.data())
    def test_values_survive_a_restart(self, tmp_path: Path, data: st.DataObject) -> None:
        """Pages written before a restart read back identically from the same file."""
        path = tmp_path / f"{uuid.uuid4().hex}.db"
        with (
            LocalNotion.start(path=path) as first,
            notion_client.Client(auth=first.token, base_url=first.base_url, retry=False) as client,
        ):
            ws = build_workspace(client)
            batches = data.draw(st.lists(all_values(ws), min_size=1, max_size=3), label="pages")
            pages = [
                client.pages.create(
                    parent={"data_source_id": ws.ds_id}, properties=request_properties(values)
                )["id"]
                for values in batches
            ]
            before = [without_request_id(client.pages.retrieve(p)) for p in pages]
        with (
            LocalNotion.start(path=path) as second,
            notion_client.Client(auth=second.token, base_url=second.base_url, retry=False) as again,
        ):
            after = [without_request_id(again.pages.retrieve(p)) for p in pages]
            schema = schema_of(again, ws.ds_id)
        for page, values in zip(after, batches, strict=True):
            check_page(page, values, schema)
        assert [_portable(p, first.base_url) for p in before] == [
            _portable(p, second.base_url) for p in after
        ]


def _portable(page: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A page with this server's base URL (a new port after the restart) taken out."""
    return {k: (v.replace(base_url, "") if isinstance(v, str) else v) for k, v in page.items()}
