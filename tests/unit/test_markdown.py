"""Tests for devfactory.emulator.markdown: Notion blocks <-> enhanced markdown."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devfactory.emulator.markdown import (
    MAX_TEXT_LENGTH,
    apply_markdown_update,
    blocks_to_markdown,
    markdown_to_blocks,
)
from devfactory.errors import NotionValidationError

PAGE_ID = "0123abcd-0123-4567-89ab-0123456789ab"
PAGE_URL = "https://www.notion.so/0123abcd0123456789ab0123456789ab"


def ann(**on: Any) -> dict[str, Any]:
    """Full annotations with the given keys switched on."""
    base: dict[str, Any] = {
        "bold": False,
        "italic": False,
        "strikethrough": False,
        "underline": False,
        "code": False,
        "color": "default",
    }
    return {**base, **on}


def text(content: str, link: str | None = None, **on: Any) -> dict[str, Any]:
    """A request-shaped text item."""
    return {
        "type": "text",
        "text": {"content": content, "link": {"url": link} if link else None},
        "annotations": ann(**on),
    }


def block(btype: str, **data: Any) -> dict[str, Any]:
    """A request-shaped block."""
    return {"type": btype, btype: data}


def para(*items: dict[str, Any], **data: Any) -> dict[str, Any]:
    """A paragraph request block."""
    return block("paragraph", rich_text=list(items), **data)


def response_text(content: str, **on: Any) -> dict[str, Any]:
    """A response-shaped text item as Notion sends it."""
    return {
        "type": "text",
        "text": {"content": content, "link": None},
        "annotations": ann(**on),
        "plain_text": content,
        "href": None,
    }


def roundtrip(md: str) -> str:
    """Markdown -> blocks -> markdown."""
    rendered: str = blocks_to_markdown(markdown_to_blocks(md))[0]
    return rendered


class TestRecordedTraffic:
    """The exchanges recorded against the real API (Notion-Version 2025-09-03)."""

    def test_insert_on_empty_page(self) -> None:
        """Inserting a heading and paragraph into an empty page reads back joined by one newline."""
        new = apply_markdown_update(
            "", "insert_content", {"content": "## New Section\n\nHello from markdown."}
        )
        assert ("## New Section\nHello from markdown.", []) == blocks_to_markdown(
            markdown_to_blocks(new)
        )

    def test_second_insert_example(self) -> None:
        """The async test's insert reads back with the blank line dropped."""
        new = apply_markdown_update(
            "", "insert_content", {"content": "# Hello\n\nAsync test content."}
        )
        assert "# Hello\nAsync test content." == roundtrip(new)

    def test_empty_page(self) -> None:
        """A page without blocks is the empty string with no unknown blocks."""
        assert ("", []) == blocks_to_markdown([])

    def test_heading_request_shape(self) -> None:
        """The heading parses to the documented request shape."""
        assert [block("heading_2", rich_text=[text("New Section")])] == markdown_to_blocks(
            "## New Section"
        )


class TestBlocksToMarkdown:
    """Rendering of each block type from Notion's response shape."""

    def test_response_shape_with_top_level_children(self) -> None:
        """Children under the block's top-level key are indented one tab."""
        blocks = [
            {
                "object": "block",
                "id": "b1",
                "type": "bulleted_list_item",
                "bulleted_list_item": {"rich_text": [response_text("a")], "color": "default"},
                "has_children": True,
                "children": [
                    {
                        "object": "block",
                        "id": "b2",
                        "type": "numbered_list_item",
                        "numbered_list_item": {"rich_text": [response_text("b")]},
                        "has_children": False,
                    }
                ],
            }
        ]
        assert ("- a\n\t1. b", []) == blocks_to_markdown(blocks)

    @pytest.mark.parametrize(
        ("blk", "expected"),
        [
            (para(text("hi")), "hi"),
            (para(), "<empty-block/>"),
            (para(text("hi"), color="red_background"), 'hi {color="red_bg"}'),
            (block("heading_1", rich_text=[text("H")]), "# H"),
            (block("heading_4", rich_text=[text("H")]), "#### H"),
            (block("heading_2", rich_text=[text("H")], is_toggleable=True), '## H {toggle="true"}'),
            (block("bulleted_list_item", rich_text=[text("x")]), "- x"),
            (block("numbered_list_item", rich_text=[text("x")]), "1. x"),
            (block("to_do", rich_text=[text("x")], checked=False), "- [ ] x"),
            (block("to_do", rich_text=[text("x")], checked=True), "- [x] x"),
            (block("quote", rich_text=[text("a\nb")]), "> a<br>b"),
            (block("divider"), "---"),
            (block("equation", expression="E = mc^2"), "$$\nE = mc^2\n$$"),
            (block("code", rich_text=[text("x = 1")], language="python"), "```python\nx = 1\n```"),
            (block("code", rich_text=[text("x")], language="plain text"), "```\nx\n```"),
            (
                block("image", type="external", external={"url": "https://i/x.png"}),
                "![](https://i/x.png)",
            ),
            (
                block("bookmark", url="https://b", caption=[text("B")]),
                '<bookmark url="https://b">B</bookmark>',
            ),
            (block("embed", url="https://e"), '<embed src="https://e"></embed>'),
            (block("table_of_contents"), "<table_of_contents/>"),
        ],
    )
    def test_single_block(self, blk: dict[str, Any], expected: str) -> None:
        """Each block type renders per the enhanced markdown reference."""
        assert (expected, []) == blocks_to_markdown([blk])

    def test_numbered_items_count_up(self) -> None:
        """A run of numbered items is numbered 1., 2., … and restarts after another block."""
        item = block("numbered_list_item", rich_text=[text("x")])
        assert "1. x\n2. x\nhi\n1. x" == blocks_to_markdown([item, item, para(text("hi")), item])[0]

    def test_toggle(self) -> None:
        """A toggle is a details element with its children indented."""
        blk = block("toggle", rich_text=[text("T")], children=[para(text("in"))])
        assert "<details>\n<summary>T</summary>\n\tin\n</details>" == blocks_to_markdown([blk])[0]

    def test_callout(self) -> None:
        """A callout carries icon and colour attributes and indents its text and children."""
        blk = block(
            "callout",
            rich_text=[text("Ship")],
            icon={"type": "emoji", "emoji": "🎯"},
            color="blue_background",
            children=[block("to_do", rich_text=[text("x")], checked=True)],
        )
        expected = '<callout icon="🎯" color="blue_bg">\n\tShip\n\t- [x] x\n</callout>'
        assert expected == blocks_to_markdown([blk])[0]

    def test_child_page_and_database(self) -> None:
        """Child pages and databases render as page and database tags with their URL."""
        blocks = [
            {"id": PAGE_ID, "type": "child_page", "child_page": {"title": "Sub"}},
            {"id": PAGE_ID, "type": "child_database", "child_database": {"title": "DB"}},
        ]
        expected = f'<page url="{PAGE_URL}">Sub</page>\n<database url="{PAGE_URL}">DB</database>'
        assert (expected, []) == blocks_to_markdown(blocks)

    def test_image_file_with_caption(self) -> None:
        """A Notion-hosted image uses its file URL and caption."""
        blk = block("image", type="file", file={"url": "https://s3/x.png"}, caption=[text("cap")])
        assert "![cap](https://s3/x.png)" == blocks_to_markdown([blk])[0]

    def test_table(self) -> None:
        """A table renders as table, tr and td tags with its header flags."""
        row = block("table_row", cells=[[text("a")], [text("b", bold=True)]])
        blk = block("table", table_width=2, has_column_header=True, has_row_header=False)
        blk["children"] = [row]
        expected = '<table header-row="true">\n\t<tr>\n\t\t<td>a</td>\n\t\t<td>**b**</td>\n\t</tr>\n</table>'
        assert expected == blocks_to_markdown([blk])[0]

    def test_unknown_block(self) -> None:
        """A block with no markdown form becomes an unknown tag and its id is listed."""
        blocks = [
            para(text("a")),
            {"id": PAGE_ID, "type": "synced_block", "synced_block": {}, "children": [para()]},
        ]
        expected = f'a\n<unknown url="{PAGE_URL}" alt="synced_block"/>'
        assert (expected, [PAGE_ID]) == blocks_to_markdown(blocks)

    def test_heading_children_are_siblings(self) -> None:
        """Children of a plain heading, which markdown cannot nest, follow it unindented."""
        blk = block("heading_1", rich_text=[text("H")], children=[para(text("x"))])
        assert "# H\nx" == blocks_to_markdown([blk])[0]

    def test_paragraph_looking_like_other_blocks_is_escaped(self) -> None:
        """Paragraph text that would read as another block type gets a backslash."""
        blocks = [para(text(t)) for t in ("# a", "- a", "1. a", "---", "+")]
        assert "\\# a\n\\- a\n1\\. a\n\\---\n\\+" == blocks_to_markdown(blocks)[0]


class TestMarkdownToBlocks:
    """Parsing of each block type into request dicts."""

    @pytest.mark.parametrize(
        ("md", "expected"),
        [
            ("hi", para(text("hi"))),
            ("<empty-block/>", para()),
            ('hi {color="red_bg"}', para(text("hi"), color="red_background")),
            ("# H", block("heading_1", rich_text=[text("H")])),
            ("###### H", block("heading_4", rich_text=[text("H")])),
            ('# H {toggle="true"}', block("heading_1", rich_text=[text("H")], is_toggleable=True)),
            ("- x", block("bulleted_list_item", rich_text=[text("x")])),
            ("* x", block("bulleted_list_item", rich_text=[text("x")])),
            ("7) x", block("numbered_list_item", rich_text=[text("x")])),
            ("- [ ] x", block("to_do", rich_text=[text("x")], checked=False)),
            ("- [X] x", block("to_do", rich_text=[text("x")], checked=True)),
            ("> a<br>b", block("quote", rich_text=[text("a\nb")])),
            ("---", block("divider")),
            ("***", block("divider")),
            ("$$\na\nb\n$$", block("equation", expression="a\nb")),
            ("```py\nx\n\n```", block("code", rich_text=[text("x\n")], language="python")),
            (
                "```visual basic\nx\n```",
                block("code", rich_text=[text("x")], language="visual basic"),
            ),
            ("```\n```", block("code", rich_text=[], language="plain text")),
            ("```nosuch\nx\n```", block("code", rich_text=[text("x")], language="plain text")),
            (
                "![c](https://i)",
                block("image", type="external", external={"url": "https://i"}, caption=[text("c")]),
            ),
            (
                '<video src="https://v">V</video>',
                block("video", type="external", external={"url": "https://v"}, caption=[text("V")]),
            ),
            ('<bookmark url="https://b"></bookmark>', block("bookmark", url="https://b")),
            ("<table_of_contents/>", block("table_of_contents")),
        ],
    )
    def test_single_block(self, md: str, expected: dict[str, Any]) -> None:
        """Each block form parses into its request dict."""
        assert [expected] == markdown_to_blocks(md)

    def test_nested_lists(self) -> None:
        """Tab- or space-indented lines become children of the item above."""
        md = "- a\n\t- b\n\t\t1. c\n    - d\n- e"
        c = block("numbered_list_item", rich_text=[text("c")])
        b = block("bulleted_list_item", rich_text=[text("b")], children=[c])
        d = block("bulleted_list_item", rich_text=[text("d")])
        a = block("bulleted_list_item", rich_text=[text("a")], children=[b, d])
        assert [a, block("bulleted_list_item", rich_text=[text("e")])] == markdown_to_blocks(md)

    def test_blank_lines_only_separate(self) -> None:
        """Blank lines between items neither end a list nor become blocks."""
        item = block("bulleted_list_item", rich_text=[text("a")])
        assert [item, item] == markdown_to_blocks("- a\n\n\n- a\n")

    def test_each_line_is_a_block(self) -> None:
        """Consecutive lines are separate paragraphs, not one soft-wrapped paragraph."""
        assert [para(text("a")), para(text("b"))] == markdown_to_blocks("a\nb")

    def test_toggle(self) -> None:
        """A details element becomes a toggle whose summary is its text."""
        md = '<details color="red">\n<summary>**T**</summary>\n\tin\n</details>'
        expected = block("toggle", rich_text=[text("T", bold=True)], children=[para(text("in"))])
        expected["toggle"]["color"] = "red"
        assert [expected] == markdown_to_blocks(md)

    def test_callout(self) -> None:
        """A callout's first line is its text and the rest are its children."""
        md = '<callout icon="🎯">\n\tShip\n\t- x\n</callout>'
        child = block("bulleted_list_item", rich_text=[text("x")])
        icon = {"type": "emoji", "emoji": "🎯"}
        expected = block("callout", rich_text=[text("Ship")], icon=icon, children=[child])
        assert [expected] == markdown_to_blocks(md)

    def test_heading_children_flatten(self) -> None:
        """Indented lines under a plain heading become following siblings."""
        expected = [block("heading_1", rich_text=[text("H")]), para(text("x"))]
        assert expected == markdown_to_blocks("# H\n\tx")

    def test_table(self) -> None:
        """A table tag parses into a table with table_row children."""
        md = (
            '<table header-column="true">\n\t<tr>\n\t\t<td>a</td>\n\t\t<td></td>\n\t</tr>\n</table>'
        )
        row = block("table_row", cells=[[text("a")], []])
        expected = block(
            "table", table_width=2, has_column_header=False, has_row_header=True, children=[row]
        )
        assert [expected] == markdown_to_blocks(md)

    def test_page_reference(self) -> None:
        """A page tag becomes a reference to the existing child page by id."""
        expected = {"type": "child_page", "id": PAGE_ID, "child_page": {"title": "Sub"}}
        assert [expected] == markdown_to_blocks(f'<page url="{PAGE_URL}">Sub</page>')

    def test_unknown_tag(self) -> None:
        """An unknown tag becomes a reference to the unsupported block by id."""
        expected = {"type": "unsupported", "id": PAGE_ID, "unsupported": {"block_type": "x"}}
        assert [expected] == markdown_to_blocks(f'<unknown url="{PAGE_URL}" alt="x"/>')

    def test_crlf(self) -> None:
        """Windows line endings are accepted."""
        assert [para(text("a")), para(text("b"))] == markdown_to_blocks("a\r\nb")


class TestInline:
    """Rich text annotations both ways."""

    @pytest.mark.parametrize(
        ("md", "items"),
        [
            ("**b**", [text("b", bold=True)]),
            ("*i*", [text("i", italic=True)]),
            ("~~s~~", [text("s", strikethrough=True)]),
            ("`c`", [text("c", code=True)]),
            ('<span underline="true">u</span>', [text("u", underline=True)]),
            ('<span color="red">r</span>', [text("r", color="red")]),
            ('<span color="blue_bg">r</span>', [text("r", color="blue_background")]),
            ("[l](https://x.y/z)", [text("l", link="https://x.y/z")]),
            ("a<br>b", [text("a\nb")]),
            ("\\*not\\* \\[x\\]", [text("*not* [x]")]),
            ("***bi***", [text("bi", bold=True, italic=True)]),
            (
                "**a *b* c**",
                [text("a ", bold=True), text("b", bold=True, italic=True), text(" c", bold=True)],
            ),
            (
                "*a **b** c*",
                [
                    text("a ", italic=True),
                    text("b", bold=True, italic=True),
                    text(" c", italic=True),
                ],
            ),
            (
                "**a [b](https://u) c**",
                [text("a ", bold=True), text("b", "https://u", bold=True), text(" c", bold=True)],
            ),
            ("``a`b``", [text("a`b", code=True)]),
            ("`` `x ``", [text("`x", code=True)]),
        ],
    )
    def test_both_ways(self, md: str, items: list[dict[str, Any]]) -> None:
        """The markdown parses into the items and the items render back to it."""
        assert [para(*items)] == markdown_to_blocks(md)
        assert md == blocks_to_markdown([para(*items)])[0]

    @pytest.mark.parametrize(
        ("md", "rendered"),
        [
            ("**x", "\\*\\*x"),
            ("a * b", "a \\* b"),
            ("*a **b*", "*a \\*\\*b*"),
            ("[x](", "\\[x\\]("),
            ("`x", "\\`x"),
            ("$x", "\\$x"),
            ("a<b", "a\\<b"),
            ("__x__", "__x__"),
        ],
    )
    def test_unmatched_markers_are_literal(self, md: str, rendered: str) -> None:
        """Markers without a partner stay literal text and are escaped on output."""
        assert rendered == roundtrip(md)

    def test_equation(self) -> None:
        """Inline equations are $-delimited."""
        item = {"type": "equation", "equation": {"expression": "E = mc^2"}, "annotations": ann()}
        assert [para(text("e: "), item)] == markdown_to_blocks("e: $E = mc^2$")
        assert "e: $E = mc^2$" == blocks_to_markdown([para(text("e: "), item)])[0]

    def test_mentions(self) -> None:
        """Mentions render as mention tags and parse back to request mentions."""
        page = {
            "type": "mention",
            "mention": {"type": "page", "page": {"id": PAGE_ID}},
            "annotations": ann(),
            "plain_text": "Sub",
            "href": None,
        }
        user = {
            "type": "mention",
            "mention": {"type": "user", "user": {"id": PAGE_ID}},
            "annotations": ann(),
            "plain_text": "@Ada",
            "href": None,
        }
        date = {
            "type": "mention",
            "mention": {"type": "date", "date": {"start": "2024-01-02", "end": None}},
            "annotations": ann(),
            "plain_text": "2024-01-02",
        }
        md = blocks_to_markdown([para(page, user, date)])[0]
        expected_md = (
            f'<mention-page url="{PAGE_URL}">Sub</mention-page>'
            f'<mention-user url="user://{PAGE_ID}">Ada</mention-user>'
            '<mention-date start="2024-01-02"/>'
        )
        assert expected_md == md
        parsed = markdown_to_blocks(md)[0]["paragraph"]["rich_text"]
        assert [
            {"type": "page", "page": {"id": PAGE_ID}},
            {"type": "user", "user": {"id": PAGE_ID}},
            {"type": "date", "date": {"start": "2024-01-02"}},
        ] == [item["mention"] for item in parsed]

    def test_response_annotations(self) -> None:
        """Response-shaped items with plain_text and href render like request items."""
        item = response_text("x", bold=True, underline=True)
        assert '<span underline="true">**x**</span>' == blocks_to_markdown([para(item)])[0]

    def test_edge_whitespace_moves_outside_emphasis(self) -> None:
        """Whitespace at the edge of an emphasised item is written outside the markers."""
        blocks = [para(text("a ", bold=True), text("b"))]
        assert "**a** b" == blocks_to_markdown(blocks)[0]


class TestLongText:
    """The 2,000-character limit of a text item."""

    def test_long_paragraph_is_split(self) -> None:
        """A 4,500-character run becomes items of 2,000, 2,000 and 500 characters."""
        rich = markdown_to_blocks("a" * 4500)[0]["paragraph"]["rich_text"]
        assert [2000, 2000, 500] == [len(item["text"]["content"]) for item in rich]
        assert 2000 == MAX_TEXT_LENGTH

    def test_long_code_is_split(self) -> None:
        """Code block content is split the same way."""
        rich = markdown_to_blocks("```\n" + "x" * 2001 + "\n```")[0]["code"]["rich_text"]
        assert [2000, 1] == [len(item["text"]["content"]) for item in rich]

    def test_split_items_render_as_one_run(self) -> None:
        """Split items with the same annotations render as one bold run."""
        blocks = markdown_to_blocks("**" + "b" * 2500 + "**")
        assert "**" + "b" * 2500 + "**" == blocks_to_markdown(blocks)[0]


CURRENT = "# Title\nFirst para\n- item one\n\t- nested\nLast para"


class TestApplyMarkdownUpdate:
    """The four PATCH /markdown operations and their validation errors."""

    def test_insert_appends_by_default(self) -> None:
        """insert_content without after or position appends at the end."""
        assert CURRENT + "\nNew" == apply_markdown_update(
            CURRENT, "insert_content", {"content": "New"}
        )

    def test_insert_at_start(self) -> None:
        """position start prepends."""
        payload = {"content": "New", "position": {"type": "start"}}
        assert "New\n" + CURRENT == apply_markdown_update(CURRENT, "insert_content", payload)

    def test_insert_at_end(self) -> None:
        """position end appends."""
        payload = {"content": "New", "position": {"type": "end"}}
        assert CURRENT + "\nNew" == apply_markdown_update(CURRENT, "insert_content", payload)

    def test_insert_after_selection_skips_children(self) -> None:
        """Content goes after the selected line and its indented children."""
        payload = {"content": "New", "after": "item one"}
        expected = "# Title\nFirst para\n- item one\n\t- nested\nNew\nLast para"
        assert expected == apply_markdown_update(CURRENT, "insert_content", payload)

    def test_insert_after_ellipsis_selection(self) -> None:
        """An ellipsis selection ends at its end text."""
        payload = {"content": "New", "after": "# Ti...para"}
        expected = "# Title\nFirst para\nNew\n- item one\n\t- nested\nLast para"
        assert expected == apply_markdown_update(CURRENT, "insert_content", payload)

    def test_insert_after_nested_line_keeps_level(self) -> None:
        """Content inserted after a nested line gets that line's indentation."""
        payload = {"content": "- sibling", "after": "nested"}
        expected = "# Title\nFirst para\n- item one\n\t- nested\n\t- sibling\nLast para"
        assert expected == apply_markdown_update(CURRENT, "insert_content", payload)

    def test_replace_content_range(self) -> None:
        """replace_content_range replaces the selected text."""
        payload = {"content": "Middle", "content_range": "First...one"}
        expected = "# Title\nMiddle\n\t- nested\nLast para"
        assert expected == apply_markdown_update(CURRENT, "replace_content_range", payload)

    def test_replace_content(self) -> None:
        """replace_content replaces the whole page with new_str."""
        assert "x" == apply_markdown_update(CURRENT, "replace_content", {"new_str": "x"})

    def test_replace_content_accepts_content(self) -> None:
        """replace_content also takes content for new_str."""
        assert "x" == apply_markdown_update(CURRENT, "replace_content", {"content": "x"})

    def test_update_content(self) -> None:
        """update_content applies each search-and-replace in order."""
        payload = {
            "content_updates": [
                {"old_str": "First", "new_str": "1st"},
                {"old_str": "para", "new_str": "P", "replace_all_matches": True},
            ]
        }
        expected = "# Title\n1st P\n- item one\n\t- nested\nLast P"
        assert expected == apply_markdown_update(CURRENT, "update_content", payload)

    @pytest.mark.parametrize(
        ("update_type", "payload", "message"),
        [
            ("nope", {}, 'body.type should be one of `"insert_content"`'),
            ("insert_content", None, "body.insert_content should be an object"),
            (
                "insert_content",
                {},
                "body.insert_content.content should be defined, instead was `undefined`.",
            ),
            (
                "insert_content",
                {"content": 3},
                "body.insert_content.content should be a string, instead was `3`.",
            ),
            (
                "insert_content",
                {"content": "x", "after": "zzz"},
                "body.insert_content.after should match",
            ),
            (
                "insert_content",
                {"content": "x", "after": "Title", "position": {"type": "end"}},
                "cannot both be provided",
            ),
            (
                "insert_content",
                {"content": "x", "position": {"type": "middle"}},
                "position.type should be",
            ),
            ("replace_content", {}, "body.replace_content.new_str should be defined"),
            (
                "replace_content_range",
                {"content": "x"},
                "body.replace_content_range.content_range should be defined",
            ),
            (
                "replace_content_range",
                {"content": "x", "content_range": "zzz...yyy"},
                "body.replace_content_range.content_range should match content in the page",
            ),
            ("update_content", {}, "body.update_content.content_updates should be an array"),
            (
                "update_content",
                {"content_updates": [{"old_str": "zzz", "new_str": ""}]},
                "body.update_content.content_updates[0].old_str should match content",
            ),
            (
                "update_content",
                {"content_updates": [{"old_str": "para", "new_str": ""}]},
                "content_updates[0].old_str matches 2 places",
            ),
            (
                "update_content",
                {"content_updates": [{"old_str": "para"}]},
                "content_updates[0].new_str should be defined",
            ),
        ],
    )
    def test_errors(self, update_type: str, payload: Any, message: str) -> None:
        """Malformed operations raise a Notion-style validation error."""
        with pytest.raises(NotionValidationError) as caught:
            apply_markdown_update(CURRENT, update_type, payload)
        assert caught.value.message.startswith("body failed validation: ")
        assert message in caught.value.message
        assert "validation_error" == caught.value.code

    def test_deleting_child_page_needs_permission(self) -> None:
        """Removing a page tag fails unless allow_deleting_content is true."""
        current = f'a\n<page url="{PAGE_URL}">Sub</page>'
        with pytest.raises(NotionValidationError) as caught:
            apply_markdown_update(current, "replace_content", {"new_str": "a"})
        assert PAGE_URL in caught.value.message
        payload = {"new_str": "a", "allow_deleting_content": True}
        assert "a" == apply_markdown_update(current, "replace_content", payload)


# ----------------------------------------------------------------------------- round trip

ALPHABET = "ab Z é🎯*_~`$[]<>{}|^\\#-+!.1&\"'()\t\n"
WORD = st.text(
    alphabet=ALPHABET.replace(" ", "").replace("\t", "").replace("\n", ""), min_size=1, max_size=6
)
EXPRESSION = st.text(alphabet="ab +\\^{}<>[]`*_", min_size=1, max_size=6).filter(
    lambda e: not e.endswith("\\")
)
COLORS = st.sampled_from(["default", "red", "blue_background"])
UUIDS = st.sampled_from([PAGE_ID, "fedcba98-7654-3210-fedc-ba9876543210"])
LANGUAGES = st.sampled_from(["plain text", "python", "visual basic", "c++", "java/c/c++/c#"])
URLS = st.sampled_from(["https://example.com/a", "https://example.com/b?q=1&r=2"])


@st.composite
def random_annotations(draw: st.DrawFn) -> dict[str, Any]:
    """Random annotations."""
    return {
        **{
            k: draw(st.booleans()) for k in ("bold", "italic", "strikethrough", "underline", "code")
        },
        "color": draw(COLORS),
    }


@st.composite
def item(draw: st.DrawFn, content: st.SearchStrategy[str]) -> dict[str, Any]:
    """One rich text item: text (maybe linked), equation or mention."""
    kind = draw(st.sampled_from(["text", "text", "text", "equation", "mention"]))
    a = {**draw(random_annotations()), **({"code": False} if kind != "text" else {})}
    if kind == "equation":
        return {"type": "equation", "equation": {"expression": draw(EXPRESSION)}, "annotations": a}
    if kind == "mention":
        mtype = draw(st.sampled_from(["page", "user", "database"]))
        mention = {"type": mtype, mtype: {"id": draw(UUIDS)}}
        return {"type": "mention", "mention": mention, "annotations": a}
    link = draw(st.one_of(st.none(), URLS))
    return {
        "type": "text",
        "text": {"content": draw(content), "link": {"url": link} if link else None},
        "annotations": a,
    }


def loose_rich_text() -> st.SearchStrategy[list[dict[str, Any]]]:
    """Any items, including whitespace, newlines and markdown punctuation."""
    return st.lists(item(st.text(alphabet=ALPHABET, min_size=1, max_size=8)), max_size=5)


def merged(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adjacent text items with the same link and annotations joined, as the parser does."""
    out: list[dict[str, Any]] = []
    for it in items:
        prev: dict[str, Any] = out[-1] if out else {}
        same = [prev.get(k) for k in ("type", "annotations")] == ["text", it["annotations"]]
        if it["type"] == "text" and same and prev["text"]["link"] == it["text"]["link"]:
            prev["text"] = {
                **prev["text"],
                "content": prev["text"]["content"] + it["text"]["content"],
            }
        else:
            out.append(it)
    return out


@st.composite
def canonical_rich_text(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Items as the parser produces them: annotated words separated by plain spaces."""
    words = draw(st.lists(item(WORD), max_size=4))
    return merged(
        [piece for n, word in enumerate(words) for piece in [text(" ")] * (n > 0) + [word]]
    )


def blocks_strategy(
    rich: st.SearchStrategy[list[dict[str, Any]]], depth: int
) -> st.SearchStrategy[dict[str, Any]]:
    """Block trees of the supported types, ``depth`` levels deep."""

    def with_color(btype: str, data: dict[str, Any], color: str) -> dict[str, Any]:
        return block(btype, **data, **({"color": color} if color != "default" else {}))

    def nest(blk: dict[str, Any], kids: list[dict[str, Any]]) -> dict[str, Any]:
        if kids:
            blk[blk["type"]]["children"] = kids
        return blk

    text_types = st.sampled_from(["paragraph", "bulleted_list_item", "numbered_list_item", "quote"])
    leaves = st.one_of(
        st.builds(lambda t, r, c: with_color(t, {"rich_text": r}, c), text_types, rich, COLORS),
        st.builds(
            lambda r, c, ch: with_color("to_do", {"rich_text": r, "checked": ch}, c),
            rich,
            COLORS,
            st.booleans(),
        ),
        st.builds(lambda n, r: block(f"heading_{n}", rich_text=r), st.integers(1, 4), rich),
        st.builds(
            lambda b, lang: block("code", rich_text=[text(b)] if b else [], language=lang),
            st.text(alphabet=ALPHABET, max_size=12),
            LANGUAGES,
        ),
        st.builds(
            lambda e: block("equation", expression=e), st.text(alphabet="ab +\\^{}\n\t", max_size=8)
        ),
        st.just(block("divider")),
        st.builds(
            lambda u, r: block(
                "image", type="external", external={"url": u}, **({"caption": r} if r else {})
            ),
            URLS,
            rich,
        ),
        st.builds(
            lambda t, u, r: block(t, url=u, **({"caption": r} if r else {})),
            st.sampled_from(["bookmark", "embed"]),
            URLS,
            rich,
        ),
        st.builds(
            lambda w, rows, hc, hr: block(
                "table",
                table_width=w,
                has_column_header=hc,
                has_row_header=hr,
                children=[block("table_row", cells=r) for r in rows],
            ),
            st.just(2),
            st.lists(st.lists(rich, min_size=2, max_size=2), min_size=1, max_size=2),
            st.booleans(),
            st.booleans(),
        ),
    )
    if depth == 0:
        return leaves
    kids = st.lists(blocks_strategy(rich, depth - 1), max_size=3)
    parents = st.one_of(
        st.builds(
            lambda t, r, c, k: nest(with_color(t, {"rich_text": r}, c), k),
            text_types,
            rich,
            COLORS,
            kids,
        ),
        st.builds(
            lambda r, c, k: nest(with_color("toggle", {"rich_text": r}, c), k), rich, COLORS, kids
        ),
        st.builds(
            lambda n, r, k: nest(block(f"heading_{n}", rich_text=r, is_toggleable=True), k),
            st.integers(1, 4),
            rich,
            kids,
        ),
        st.builds(
            lambda r, i, c, k: nest(with_color("callout", {"rich_text": r, **i}, c), k),
            rich,
            st.sampled_from([{}, {"icon": {"type": "emoji", "emoji": "🎯"}}]),
            COLORS,
            kids,
        ),
    )
    return st.one_of(leaves, parents)


MARKDOWN_TOKENS = st.sampled_from(
    [
        "a",
        " ",
        "\t",
        "\n",
        "*",
        "**",
        "***",
        "~~",
        "`",
        "``",
        "$",
        "[",
        "]",
        "](https://u)",
        "<br>",
        '<span color="red">',
        '<span underline="true">',
        "</span>",
        "\\",
        "# ",
        "- ",
        "1. ",
        "> ",
        "- [ ] ",
        "---",
        "```",
        "```python\n",
        "<details>\n",
        "<summary>x</summary>\n",
        "</details>",
        '<callout icon="x">\n',
        "</callout>",
        "<empty-block/>",
        ' {color="red"}',
        "![c](u)",
        "_",
        f'<mention-page url="{PAGE_URL}"/>',
        "<table>\n<tr>\n<td>",
        "</td>",
        "</tr>\n</table>",
    ]
)
CANONICAL_TREES = st.lists(blocks_strategy(canonical_rich_text(), 2), max_size=4)
LOOSE_TREES = st.lists(blocks_strategy(loose_rich_text(), 2), max_size=4)


class TestRoundTrip:
    """markdown_to_blocks(blocks_to_markdown(x)) == x for parser-made block trees."""

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(CANONICAL_TREES)
    def test_canonical_trees(self, blocks: list[dict[str, Any]]) -> None:
        """Trees in the parser's canonical form survive rendering and parsing unchanged."""
        assert blocks == markdown_to_blocks(blocks_to_markdown(blocks)[0])

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(LOOSE_TREES)
    def test_parsed_trees_are_fixpoints(self, blocks: list[dict[str, Any]]) -> None:
        """Once parsed, any rendered tree renders and parses back to itself."""
        parsed = markdown_to_blocks(blocks_to_markdown(blocks)[0])
        markdown, unknown = blocks_to_markdown(parsed)
        assert [] == unknown
        assert parsed == markdown_to_blocks(markdown)
        assert markdown == blocks_to_markdown(markdown_to_blocks(markdown))[0]

    @settings(max_examples=500, deadline=None)
    @given(st.lists(MARKDOWN_TOKENS, max_size=25).map("".join))
    def test_any_markdown_parses_to_a_fixpoint(self, markdown: str) -> None:
        """Whatever markdown is parsed, rendering and parsing the blocks again changes nothing."""
        parsed = markdown_to_blocks(markdown)
        assert parsed == markdown_to_blocks(blocks_to_markdown(parsed)[0])
