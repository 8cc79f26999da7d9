"""Property values: request forms, stored forms, conversions, with Notion's error paths."""

from __future__ import annotations

from typing import Any

import pytest

from devfactory.emulator.compute import render_value
from devfactory.emulator.schema import find_property
from devfactory.emulator.values import convert, normalize_date, parse_value
from devfactory.errors import NotionValidationError
from tests.unit.helpers import add_row, make_ctx, make_ds

SCHEMA = {
    "Name": {"title": {}},
    "Cat": {"select": {"options": [{"name": "A", "color": "red"}]}},
    "Tags": {"multi_select": {}},
    "State": {"status": {}},
    "N": {"number": {"format": "percent"}},
    "Site": {"url": {}},
}


@pytest.fixture
def env() -> tuple[Any, Any]:
    ctx = make_ctx()
    return ctx, make_ds(ctx, SCHEMA)


def parse(env: tuple[Any, Any], name: str, raw: Any) -> Any:
    ctx, ds = env
    with ctx.store.transaction():
        return parse_value(ctx, ds, find_property(ds, name), raw, f"body.properties.{name}", None)


class TestParse:
    def test_select_by_name_and_by_id(self, env: tuple[Any, Any]) -> None:
        """Options are found by name or id; the stored form is the option id."""
        option = find_property(env[1], "Cat")["config"]["options"][0]
        assert option["id"] == parse(env, "Cat", {"select": {"name": "A"}})
        assert option["id"] == parse(env, "Cat", {"select": {"id": option["id"]}})

    def test_new_select_name_adds_an_option(self, env: tuple[Any, Any]) -> None:
        """Writing an unknown select name creates the option, as Notion does."""
        parse(env, "Cat", {"select": {"name": "B"}})
        assert ["A", "B"] == [o["name"] for o in find_property(env[1], "Cat")["config"]["options"]]

    def test_unknown_status_is_refused(self, env: tuple[Any, Any]) -> None:
        """Status options must exist."""
        with pytest.raises(NotionValidationError, match="Status option"):
            parse(env, "State", {"status": {"name": "Nope"}})

    def test_commas_in_select_names_are_refused(self, env: tuple[Any, Any]) -> None:
        """Notion does not allow commas in select option names."""
        with pytest.raises(NotionValidationError, match="commas"):
            parse(env, "Tags", {"multi_select": [{"name": "a,b"}]})

    def test_multi_select_deduplicates(self, env: tuple[Any, Any]) -> None:
        """The same option twice is stored once."""
        assert 1 == len(parse(env, "Tags", {"multi_select": [{"name": "x"}, {"name": "x"}]}))

    def test_type_key_must_match(self, env: tuple[Any, Any]) -> None:
        """A value under another type's key is reported at its path."""
        with pytest.raises(
            NotionValidationError, match=r"body.properties.N.number should be defined"
        ):
            parse(env, "N", {"rich_text": []})

    def test_url_length_limit(self, env: tuple[Any, Any]) -> None:
        """URLs are at most 2,000 characters."""
        with pytest.raises(NotionValidationError, match="length should be ≤ `2000`"):
            parse(env, "Site", {"url": "https://x/" + "a" * 2000})

    def test_title_accepts_bare_array(self, env: tuple[Any, Any]) -> None:
        """A title may be given as the bare rich-text array."""
        assert "Hi" == parse(env, "Name", [{"text": {"content": "Hi"}}])[0]["plain_text"]


class TestDates:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ({"start": "2026-01-02"}, {"start": "2026-01-02", "end": None, "time_zone": None}),
            (
                {"start": "2026-01-02T03:04:05Z"},
                {"start": "2026-01-02T03:04:05.000+00:00", "end": None, "time_zone": None},
            ),
            (
                {"start": "2026-01-02T03:04:05.678+02:00", "end": "2026-01-03"},
                {"start": "2026-01-02T03:04:05.678+02:00", "end": "2026-01-03", "time_zone": None},
            ),
            (
                {"start": "2026-01-02T03:04:05", "time_zone": "Europe/Berlin"},
                {"start": "2026-01-02T03:04:05.000+01:00", "end": None, "time_zone": None},
            ),
            (
                {
                    "start": "2026-07-01T10:00:00",
                    "end": "2026-07-01T11:00",
                    "time_zone": "Europe/Paris",
                },
                {
                    "start": "2026-07-01T10:00:00.000+02:00",
                    "end": "2026-07-01T11:00:00.000+02:00",
                    "time_zone": None,
                },
            ),
        ],
    )
    def test_normalisation(self, raw: dict[str, Any], expected: dict[str, Any]) -> None:
        """Days stay days; times get milliseconds and an offset; a time zone becomes the offset
        and answers say time_zone null, as Notion's do."""
        assert expected == normalize_date(raw, "body.d")

    @pytest.mark.parametrize(
        "raw",
        [
            {"start": "2026-13-01"},
            {"start": "yesterday"},
            {"start": "2026-01-01", "time_zone": "Mars/Base"},
            {"end": "2026-01-01"},
        ],
    )
    def test_invalid(self, raw: dict[str, Any]) -> None:
        """Bad dates and zones are validation errors."""
        with pytest.raises(NotionValidationError):
            normalize_date(raw, "body.d")


class TestConvert:
    def test_select_to_rich_text_and_back(self, env: tuple[Any, Any]) -> None:
        """Type changes go through text: a select becomes its name, and a name becomes an option."""
        ctx, ds = env
        cat = find_property(ds, "Cat")
        text_prop = {"id": "x", "name": "X", "type": "rich_text", "config": {}}
        with ctx.store.transaction():
            as_text = convert(ctx, ds, cat, text_prop, cat["config"]["options"][0]["id"])
            new_select = {"id": "y", "name": "Y", "type": "select", "config": {"options": []}}
            back = convert(ctx, ds, text_prop, new_select, as_text)
        assert "A" == as_text[0]["plain_text"]
        assert new_select["config"]["options"][0]["id"] == back

    @pytest.mark.parametrize(("text", "expected"), [("12", 12), ("1,234.5", 1234.5), ("n/a", None)])
    def test_text_to_number(self, env: tuple[Any, Any], text: str, expected: Any) -> None:
        """Numbers parse from text (with thousands separators) or become empty."""
        ctx, ds = env
        from devfactory.emulator.richtext import text_item

        old = {"id": "x", "name": "X", "type": "rich_text", "config": {}}
        new = {"id": "x", "name": "X", "type": "number", "config": {}}
        assert expected == convert(ctx, ds, old, new, [text_item(text)])


class TestRender:
    def test_row_values_render_in_notion_shape(self, env: tuple[Any, Any]) -> None:
        """Stored values render with id, type and Notion's value shape."""
        ctx, ds = env
        page = add_row(ctx, ds, {"Cat": {"select": {"name": "A"}}, "N": {"number": 0.5}})
        cat = render_value(ctx, ds, page, find_property(ds, "Cat"))
        assert {
            "id": cat["id"],
            "type": "select",
            "select": {"id": cat["select"]["id"], "name": "A", "color": "red"},
        } == cat
        assert 0.5 == render_value(ctx, ds, page, find_property(ds, "N"))["number"]
        assert [] == render_value(ctx, ds, page, find_property(ds, "Tags"))["multi_select"]
