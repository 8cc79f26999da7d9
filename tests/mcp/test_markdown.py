"""Markdown → Notion blocks (devfactory.mcp.markdown), offline: block types, inline
annotations, nesting limits and Notion's size limits."""

from __future__ import annotations

from typing import Any

import pytest

from devfactory.mcp.markdown import MAX_TEXT, count_blocks, markdown_to_blocks

Json = dict[str, Any]


def one(markdown: str) -> Json:
    blocks = markdown_to_blocks(markdown)
    assert 1 == len(blocks), blocks
    return blocks[0]


def text_of(block: Json) -> str:
    return "".join(t["text"]["content"] for t in block[block["type"]]["rich_text"])


def children(block: Json) -> list[Json]:
    found: list[Json] = block[block["type"]].get("children", [])
    return found


class TestBlocks:
    @pytest.mark.parametrize(
        ("markdown", "kind"),
        [
            ("# One", "heading_1"),
            ("## Two", "heading_2"),
            ("### Three", "heading_3"),
            ("#### Four", "heading_3"),
            ("Just text.", "paragraph"),
            ("- item", "bulleted_list_item"),
            ("1. item", "numbered_list_item"),
            ("> said", "quote"),
            ("- [ ] task", "to_do"),
        ],
    )
    def test_each_markdown_block_has_its_notion_type(self, markdown: str, kind: str) -> None:
        """Headings 1-3 (deeper ones as 3), paragraphs, lists, quotes and tasks map by type."""
        block = one(markdown)
        assert kind == block["type"]
        assert {"object": "block", "type": kind, kind: block[kind]} == block

    def test_blank_text_makes_no_blocks(self) -> None:
        """Nothing to append is an empty list, not an empty paragraph."""
        assert [] == markdown_to_blocks("  \n\n ")

    def test_divider(self) -> None:
        """A thematic break is a divider with an empty body."""
        assert {"object": "block", "type": "divider", "divider": {}} == one("---")

    def test_tasks_keep_their_checked_state_and_drop_the_marker(self) -> None:
        """``- [ ]`` is unchecked, ``- [x]`` checked; the marker is not part of the text."""
        blocks = markdown_to_blocks("- [ ] open\n- [x] done\n- [X] also done")
        assert [False, True, True] == [b["to_do"]["checked"] for b in blocks]
        assert ["open", "done", "also done"] == [text_of(b) for b in blocks]

    def test_a_bracket_that_is_not_a_task_marker_stays_text(self) -> None:
        """``- [link]`` or ``- [y] x`` are ordinary list items."""
        blocks = markdown_to_blocks("- [y] maybe\n- [ ]x")
        assert ["bulleted_list_item", "bulleted_list_item"] == [b["type"] for b in blocks]

    def test_fenced_code_keeps_its_text_and_names_the_language_as_notion_does(self) -> None:
        """``py`` becomes ``python``; the trailing newline of the fence is dropped."""
        block = one("```py\nprint('hi')\n\nx = 1\n```")
        assert "code" == block["type"]
        assert "python" == block["code"]["language"]
        assert "print('hi')\n\nx = 1" == text_of(block)

    @pytest.mark.parametrize(
        ("info", "language"),
        [("", "plain text"), ("rust", "rust"), ("ts", "typescript"), ("klingon", "plain text")],
    )
    def test_code_languages_are_always_ones_notion_accepts(self, info: str, language: str) -> None:
        """Unknown languages fall back to plain text instead of a 400 from Notion."""
        assert language == one(f"```{info}\nx\n```")["code"]["language"]

    def test_an_indented_code_block_is_plain_text_code(self) -> None:
        """Four-space code is a code block too."""
        block = one("    indented()")
        assert ("code", "plain text") == (block["type"], block["code"]["language"])

    def test_quote_with_several_paragraphs_keeps_the_rest_as_children(self) -> None:
        """The first paragraph is the quote's text; what follows nests under it."""
        block = one("> first line\n> same paragraph\n>\n> second")
        assert "first line same paragraph" == text_of(block)
        assert ["second"] == [text_of(c) for c in children(block)]

    def test_an_image_alone_in_a_paragraph_is_an_image_block(self) -> None:
        """Only absolute http(s) images become image blocks (Notion needs a URL)."""
        block = one("![a chart](https://example.com/c.png)")
        assert {"type": "external", "external": {"url": "https://example.com/c.png"}} == {
            k: block["image"][k] for k in ("type", "external")
        }
        assert "paragraph" == one("![local](chart.png)")["type"]

    def test_a_table_becomes_rows_with_a_header(self) -> None:
        """Tables keep their cells, with the header row marked."""
        block = one("| a | b |\n|---|---|\n| 1 | **2** |")
        assert (2, True) == (block["table"]["table_width"], block["table"]["has_column_header"])
        rows = [
            [[t["text"]["content"] for t in c] for c in r["table_row"]["cells"]]
            for r in children(block)
        ]
        assert [[["a"], ["b"]], [["1"], ["2"]]] == rows


class TestNesting:
    def test_nested_lists_become_children(self) -> None:
        """An indented list is the children of the item above it."""
        block = one("- parent\n  - child\n  - sibling")
        assert ["child", "sibling"] == [text_of(c) for c in children(block)]

    def test_nesting_deeper_than_a_request_allows_is_lifted_not_lost(self) -> None:
        """Notion takes two levels of children per request: deeper items follow, in order."""
        blocks = markdown_to_blocks("- a\n  - b\n    - c\n      - d\n        - e")
        b = children(blocks[0])[0]
        assert ["c", "d", "e"] == [text_of(x) for x in children(b)]
        assert all(not children(x) for x in children(b))
        assert 5 == count_blocks(blocks)

    def test_numbered_list_items_nest_under_bullets(self) -> None:
        """Mixed lists keep each item's own type."""
        block = one("- steps\n  1. first\n  2. second")
        assert ["numbered_list_item"] * 2 == [c["type"] for c in children(block)]


class TestRichText:
    def test_inline_styles_become_annotations(self) -> None:
        """Bold, italic, strikethrough and code are annotations of their own text items."""
        block = one("plain **bold** *italic* ~~gone~~ `code`")
        items = [
            (t["text"]["content"], t.get("annotations", {}))
            for t in block["paragraph"]["rich_text"]
        ]
        assert [
            ("plain ", {}),
            ("bold", {"bold": True}),
            (" ", {}),
            ("italic", {"italic": True}),
            (" ", {}),
            ("gone", {"strikethrough": True}),
            (" ", {}),
            ("code", {"code": True}),
        ] == items

    def test_nested_styles_combine(self) -> None:
        """Italic inside bold is both."""
        block = one("**bold *both***")
        assert {"bold": True, "italic": True} == block["paragraph"]["rich_text"][-1]["annotations"]

    def test_links_carry_their_url(self) -> None:
        """``[text](url)`` is text with a link; styles inside the link keep it."""
        block = one("see [the **docs**](https://example.com/docs)")
        items = block["paragraph"]["rich_text"]
        assert [None, "https://example.com/docs", "https://example.com/docs"] == [
            (t["text"].get("link") or {}).get("url") for t in items
        ]
        assert {"bold": True} == items[2]["annotations"]

    @pytest.mark.parametrize("href", ["relative/page", "javascript:alert(1)", "#anchor"])
    def test_links_notion_would_refuse_keep_only_their_text(self, href: str) -> None:
        """A relative or script link would fail the whole append: the text stays, unlinked."""
        block = one(f"[here]({href})")
        assert "here" in text_of(block)
        assert all("link" not in t["text"] for t in block["paragraph"]["rich_text"])

    def test_soft_breaks_join_lines_and_hard_breaks_keep_them(self) -> None:
        """A wrapped paragraph is one line; a trailing backslash is a line break."""
        assert "one two" == text_of(one("one\ntwo"))
        assert "one\ntwo" == text_of(one("one\\\ntwo"))

    def test_long_text_is_split_at_notions_limit(self) -> None:
        """Rich text items hold at most 2,000 characters; nothing is cut off."""
        block = one("x" * (MAX_TEXT * 2 + 5))
        sizes = [len(t["text"]["content"]) for t in block["paragraph"]["rich_text"]]
        assert [MAX_TEXT, MAX_TEXT, 5] == sizes

    def test_html_stays_literal_text(self) -> None:
        """Tags an agent writes are shown, not dropped."""
        assert "<b>hi</b>" == text_of(one("<b>hi</b>"))
