"""Validation helpers produce Notion's messages with exact body paths."""

from __future__ import annotations

import pytest

from devfactory.emulator import validation as v
from devfactory.emulator.richtext import normalize_rich_text, plain_text
from devfactory.errors import NotionValidationError


def message(fn: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(NotionValidationError) as info:
        fn(*args, **kwargs)  # type: ignore[operator]
    return info.value.message


class TestMessages:
    def test_missing_member(self) -> None:
        """A missing key reads "should be defined, instead was `undefined`"."""
        assert (
            "body failed validation: body.parent should be defined, instead was `undefined`."
            == message(v.member, {}, "parent", "body")
        )

    def test_wrong_type_quotes_the_value_as_json(self) -> None:
        """The offending value is quoted as JSON."""
        assert (
            'body failed validation: body.title should be an array, instead was `"x"`.'
            == message(v.array, "x", "body.title")
        )

    def test_length_limit(self) -> None:
        """Too-long strings name the .length path and the limit."""
        assert "body failed validation: body.x.length should be ≤ `3`, instead was `4`." == message(
            v.string, "abcd", "body.x", max_length=3
        )

    def test_path_ids(self) -> None:
        """Path parameters are reported under path., as Notion does."""
        assert (
            'path failed validation: path.page_id should be a valid uuid, instead was `"AAA"`.'
            == message(v.path_id, "AAA", "page_id")
        )

    def test_booleans_are_not_numbers(self) -> None:
        """True is refused where a number is expected."""
        assert "should be a number" in message(v.number, True, "body.n")

    def test_non_finite_numbers_are_refused(self) -> None:
        """NaN and infinity are not JSON numbers Notion accepts."""
        assert "finite" in message(v.number, float("nan"), "body.n")

    def test_long_values_are_cut_in_messages(self) -> None:
        """Huge values do not blow up error messages."""
        assert len(message(v.obj, "y" * 10_000, "body.x")) < 300


class TestRichText:
    def test_short_text_item_is_completed(self) -> None:
        """A bare text item gains type, annotations, plain_text and href."""
        [item] = normalize_rich_text(
            [{"text": {"content": "Hi", "link": {"url": "https://x.example"}}}], "body.rt"
        )
        assert {
            "type": "text",
            "text": {"content": "Hi", "link": {"url": "https://x.example"}},
            "annotations": {
                "bold": False,
                "italic": False,
                "strikethrough": False,
                "underline": False,
                "code": False,
                "color": "default",
            },
            "plain_text": "Hi",
            "href": "https://x.example",
        } == item

    def test_partial_annotations_keep_defaults(self) -> None:
        """Only the annotations given change."""
        [item] = normalize_rich_text(
            [{"text": {"content": "x"}, "annotations": {"bold": True, "color": "red_background"}}],
            "b",
        )
        assert (True, False, "red_background") == (
            item["annotations"]["bold"],
            item["annotations"]["italic"],
            item["annotations"]["color"],
        )

    def test_equation_and_date_mention_plain_text(self) -> None:
        """Equations show their expression; date mentions their dates."""
        items = normalize_rich_text(
            [
                {"equation": {"expression": "a^2"}},
                {"mention": {"date": {"start": "2022-12-16", "end": "2022-12-20"}}},
            ],
            "b",
        )
        assert "a^22022-12-16 → 2022-12-20" == plain_text(items)

    def test_bad_annotation_color(self) -> None:
        """Unknown colours are refused at their path."""
        assert "body.rt[0].annotations.color" in message(
            normalize_rich_text,
            [{"text": {"content": "x"}, "annotations": {"color": "mauve"}}],
            "body.rt",
        )

    def test_more_than_100_items(self) -> None:
        """A rich-text array holds at most 100 items."""
        assert "body.rt.length should be ≤ `100`" in message(
            normalize_rich_text, [{"text": {"content": "x"}}] * 101, "body.rt"
        )
