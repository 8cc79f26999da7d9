"""Ids: parsing Notion's forms and generating new ones."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from devfactory.emulator.ids import NIL_ID, compact, new_id, new_property_id, parse_id


class TestParseId:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("393abc1eedcd80f3813be205934558c6", "393abc1e-edcd-80f3-813b-e205934558c6"),
            ("393ABC1E-EDCD-80F3-813B-E205934558C6", "393abc1e-edcd-80f3-813b-e205934558c6"),
            (NIL_ID, NIL_ID),
        ],
    )
    def test_accepts_dashed_undashed_and_nil(self, raw: str, expected: str) -> None:
        """Both spellings parse to the canonical dashed lower-case form; the nil id is valid."""
        assert expected == parse_id(raw)

    @pytest.mark.parametrize(
        "raw",
        [
            "AAA",
            "",
            "12345678-1234-1234-1234-123456789abc",
            "393abc1e-edcd-80f3-813b-e205934558c",
            "g93abc1eedcd80f3813be205934558c6",
            " 393abc1eedcd80f3813be205934558c6",
        ],
    )
    def test_rejects_malformed_and_wrong_variant(self, raw: str) -> None:
        """Short, non-hex, padded and wrong-variant ids are refused, as Notion refuses them."""
        assert parse_id(raw) is None


class TestNewIds:
    def test_new_ids_are_valid_and_distinct(self) -> None:
        """Generated ids parse and do not repeat."""
        ids = {new_id() for _ in range(1000)}
        assert 1000 == len(ids)
        assert all(parse_id(i) == i for i in ids)

    def test_property_ids_are_short_encoded_and_avoid_taken(self) -> None:
        """Property ids are 4 characters URL-encoded, never "title", never taken."""
        taken: set[str] = set()
        for _ in range(500):
            pid = new_property_id(taken)
            assert pid not in taken and pid != "title"
            assert 4 == len(unquote(pid))
            taken.add(pid)

    def test_compact_drops_dashes(self) -> None:
        """URLs use the id without dashes."""
        assert "393abc1eedcd80f3813be205934558c6" == compact("393abc1e-edcd-80f3-813b-e205934558c6")
