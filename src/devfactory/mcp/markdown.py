"""Markdown → Notion blocks, for ``append_content`` (and page bodies on ``create_page``).

Agents write markdown; Notion stores blocks. :func:`markdown_to_blocks` parses CommonMark
(plus ``~~strikethrough~~``, tables and ``- [ ]`` task items) with markdown-it-py and builds
the request shape of ``PATCH /v1/blocks/{id}/children``:

========================================  =================================================
markdown                                  Notion block
========================================  =================================================
``#``, ``##``, ``###`` (and deeper)       ``heading_1``, ``heading_2``, ``heading_3``
paragraph                                 ``paragraph``
``- item`` / ``1. item``                  ``bulleted_list_item`` / ``numbered_list_item``
``- [ ] task`` / ``- [x] done``           ``to_do`` (``checked``)
``> quote``                               ``quote`` (further paragraphs become its children)
fenced code with a language               ``code`` (``language`` in Notion's names)
``---``                                   ``divider``
a paragraph that is only an image         ``image`` (external URL)
table                                     ``table`` with ``table_row`` children
========================================  =================================================

Inline ``**bold**``, ``*italic*``, ``~~strike~~``, ```code``` and ``[links](https://…)``
become rich-text annotations and links (a link Notion would refuse — relative, ``javascript:``
— keeps its text only). Text items are split at Notion's 2,000 characters. Nested lists become
children, at most two levels deep as one request allows; deeper items are lifted to the
deepest level, in order, so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

__all__ = ["MAX_DEPTH", "MAX_TEXT", "count_blocks", "markdown_to_blocks"]

Json = dict[str, Any]

MAX_TEXT = 2000  # characters in one rich-text item
MAX_DEPTH = 2  # levels of children one append request may carry

_LANGUAGES = frozenset((
    "abap", "agda", "arduino", "assembly", "bash", "basic", "bnf", "c", "c#", "c++", "clojure",
    "coffeescript", "coq", "css", "dart", "dhall", "diff", "docker", "ebnf", "elixir", "elm",
    "erlang", "f#", "flow", "fortran", "gherkin", "glsl", "go", "graphql", "groovy", "haskell",
    "hcl", "html", "idris", "java", "javascript", "json", "julia", "kotlin", "latex", "less",
    "lisp", "livescript", "llvm ir", "lua", "makefile", "markdown", "markup", "matlab",
    "mathematica", "mermaid", "nix", "notion formula", "objective-c", "ocaml", "pascal", "perl",
    "php", "plain text", "powershell", "prolog", "protobuf", "purescript", "python", "r",
    "racket", "reason", "ruby", "rust", "sass", "scala", "scheme", "scss", "shell", "smalltalk",
    "solidity", "sql", "swift", "toml", "typescript", "vb.net", "verilog", "vhdl",
    "visual basic", "webassembly", "xml", "yaml", "java/c/c++/c#",
))  # fmt: skip
"""Notion's code block languages (others are refused by the API)."""
_ALIASES = {
    "py": "python",
    "python3": "python",
    "js": "javascript",
    "jsx": "javascript",
    "ts": "typescript",
    "tsx": "typescript",
    "sh": "shell",
    "zsh": "shell",
    "console": "shell",
    "yml": "yaml",
    "cpp": "c++",
    "cs": "c#",
    "csharp": "c#",
    "golang": "go",
    "rb": "ruby",
    "rs": "rust",
    "kt": "kotlin",
    "md": "markdown",
    "tex": "latex",
    "dockerfile": "docker",
    "objc": "objective-c",
    "fsharp": "f#",
    "hs": "haskell",
    "ps1": "powershell",
    "proto": "protobuf",
    "text": "plain text",
    "txt": "plain text",
    "plaintext": "plain text",
    "": "plain text",
}
_HEADINGS = {"h1": "heading_1", "h2": "heading_2"}
_LINK_SCHEMES = ("http://", "https://", "mailto:")


def _parser() -> MarkdownIt:
    # html off: tags an agent writes stay literal text instead of vanishing
    return MarkdownIt("commonmark", {"html": False}).enable(["strikethrough", "table"])


def markdown_to_blocks(text: str) -> list[Json]:
    """Notion blocks (request shape) for a markdown text; ``[]`` for blank text."""
    root = SyntaxTreeNode(_parser().parse(text))
    blocks = [block for node in root.children for block in _blocks(node)]
    return _limit_depth(blocks, 0)


def count_blocks(blocks: list[Json]) -> int:
    """How many blocks a list holds, children included (Notion caps a request at 1,000)."""
    return sum(1 + count_blocks(_children_of(b)) for b in blocks)


# ---------------------------------------------------------------------------- blocks


def _block(kind: str, body: Json, children: list[Json] | None = None) -> Json:
    if children:
        body["children"] = children
    return {"object": "block", "type": kind, kind: body}


def _children_of(block: Json) -> list[Json]:
    children: list[Json] = block[block["type"]].get("children", [])
    return children


def _blocks(node: SyntaxTreeNode) -> list[Json]:
    """The blocks one block-level node becomes."""
    kind = node.type
    if kind == "heading":
        level = _HEADINGS.get(node.tag, "heading_3")
        return [_block(level, {"rich_text": _inline_of(node)})]
    if kind == "paragraph":
        image = _only_image(node)
        if image is not None:
            return [image]
        return [_block("paragraph", {"rich_text": _inline_of(node)})]
    if kind in ("bullet_list", "ordered_list"):
        return [_list_item(item, kind) for item in node.children]
    if kind == "blockquote":
        return [_quote(node)]
    if kind in ("fence", "code_block"):
        return [_code(node.content, node.info if kind == "fence" else "")]
    if kind == "hr":
        return [_block("divider", {})]
    if kind == "table":
        return [_table(node)]
    # anything else markdown-it may produce (html is off): keep its text as a paragraph
    text = node.content.strip()
    return [_block("paragraph", {"rich_text": _text_items(text)})] if text else []


def _list_item(item: SyntaxTreeNode, list_kind: str) -> Json:
    first, rest = _split_first_paragraph(item.children)
    rich = _inline_of(first) if first is not None else []
    children = [block for child in rest for block in _blocks(child)]
    if list_kind == "bullet_list":
        checked = _task_marker(rich)
        if checked is not None:
            return _block("to_do", {"rich_text": rich, "checked": checked}, children)
    kind = "bulleted_list_item" if list_kind == "bullet_list" else "numbered_list_item"
    return _block(kind, {"rich_text": rich}, children)


def _task_marker(rich: list[Json]) -> bool | None:
    """Whether a list item's text starts ``[ ]`` / ``[x]`` (a task), removing the marker."""
    if not rich or rich[0]["text"].get("link") or rich[0].get("annotations"):
        return None
    content = rich[0]["text"]["content"]
    for marker, checked in (("[ ]", False), ("[x]", True), ("[X]", True)):
        if content == marker or content.startswith(marker + " "):
            rest = content[len(marker) :].lstrip(" ")
            if rest:
                rich[0]["text"]["content"] = rest
            else:
                del rich[0]
            return checked
    return None


def _quote(node: SyntaxTreeNode) -> Json:
    first, rest = _split_first_paragraph(node.children)
    rich = _inline_of(first) if first is not None else []
    children = [block for child in rest for block in _blocks(child)]
    return _block("quote", {"rich_text": rich}, children)


def _split_first_paragraph(
    nodes: list[SyntaxTreeNode],
) -> tuple[SyntaxTreeNode | None, list[SyntaxTreeNode]]:
    if nodes and nodes[0].type == "paragraph":
        return nodes[0], list(nodes[1:])
    return None, list(nodes)


def _code(content: str, info: str) -> Json:
    word = info.strip().split(" ", 1)[0].lower() if info.strip() else ""
    language = word if word in _LANGUAGES else _ALIASES.get(word, "plain text")
    return _block(
        "code",
        {"rich_text": _text_items(content.rstrip("\n")), "language": language},
    )


def _only_image(paragraph: SyntaxTreeNode) -> Json | None:
    inline = paragraph.children[0] if paragraph.children else None
    parts = [c for c in (inline.children if inline else []) if c.type != "softbreak"]
    if len(parts) != 1 or parts[0].type != "image":
        return None
    src = str(parts[0].attrs.get("src", ""))
    if not src.startswith(("http://", "https://")):
        return None
    caption = _text_items(_plain_text(parts[0]))
    return _block("image", {"type": "external", "external": {"url": src}, "caption": caption})


def _table(node: SyntaxTreeNode) -> Json:
    rows: list[list[list[Json]]] = []
    has_header = False
    for section in node.children:
        for row in section.children:
            rows.append([_inline_of(cell) for cell in row.children])
            has_header = has_header or section.type == "thead"
    width = max((len(r) for r in rows), default=1)
    children = [
        _block("table_row", {"cells": row + [[] for _ in range(width - len(row))]}) for row in rows
    ]
    body: Json = {"table_width": width, "has_column_header": has_header, "has_row_header": False}
    return _block("table", body, children)


def _limit_depth(blocks: list[Json], level: int) -> list[Json]:
    """Blocks whose children nest at most :data:`MAX_DEPTH` deep; deeper blocks follow their
    parent as siblings at the deepest level (tables keep their rows)."""
    out: list[Json] = []
    for block in blocks:
        body = block[block["type"]]
        children = body.pop("children", [])
        out.append(block)
        if block["type"] == "table" or (children and level < MAX_DEPTH):
            body["children"] = _limit_depth(children, level + 1)
        elif children:
            out.extend(_limit_depth(children, level))
    return out


# ---------------------------------------------------------------------------- rich text


@dataclass(frozen=True)
class _Style:
    bold: bool = False
    italic: bool = False
    strikethrough: bool = False
    code: bool = False
    link: str | None = None

    def annotations(self) -> Json:
        flags = {
            "bold": self.bold,
            "italic": self.italic,
            "strikethrough": self.strikethrough,
            "code": self.code,
        }
        return {name: True for name, on in flags.items() if on}


def _inline_of(node: SyntaxTreeNode) -> list[Json]:
    """Rich text of a node holding one ``inline`` child (paragraph, heading, table cell)."""
    runs: list[tuple[str, _Style]] = []
    for child in node.children:
        if child.type == "inline":
            runs.extend(_runs(child.children, _Style()))
    return _merge(runs)


def _runs(nodes: list[SyntaxTreeNode], style: _Style) -> Iterator[tuple[str, _Style]]:
    for node in nodes:
        kind = node.type
        if kind == "text":
            yield node.content, style
        elif kind == "code_inline":
            yield node.content, _replace(style, code=True)
        elif kind == "softbreak":
            yield " ", style
        elif kind == "hardbreak":
            yield "\n", style
        elif kind == "strong":
            yield from _runs(node.children, _replace(style, bold=True))
        elif kind == "em":
            yield from _runs(node.children, _replace(style, italic=True))
        elif kind == "s":
            yield from _runs(node.children, _replace(style, strikethrough=True))
        elif kind == "link":
            href = str(node.attrs.get("href", ""))
            link = href if href.startswith(_LINK_SCHEMES) else style.link
            yield from _runs(node.children, _replace(style, link=link))
        elif kind == "image":
            src = str(node.attrs.get("src", ""))
            link = src if src.startswith(("http://", "https://")) else style.link
            yield _plain_text(node) or src, _replace(style, link=link)
        else:
            yield node.content, style


def _replace(style: _Style, **changes: Any) -> _Style:
    values = {**style.__dict__, **changes}
    return _Style(**values)


def _plain_text(node: SyntaxTreeNode) -> str:
    if node.type in ("text", "code_inline"):
        return node.content
    return "".join(_plain_text(child) for child in node.children)


def _merge(runs: list[tuple[str, _Style]]) -> list[Json]:
    merged: list[tuple[str, _Style]] = []
    for text, style in runs:
        if not text:
            continue
        if merged and merged[-1][1] == style:
            merged[-1] = (merged[-1][0] + text, style)
        else:
            merged.append((text, style))
    return [item for text, style in merged for item in _text_items(text, style)]


def _text_items(text: str, style: _Style | None = None) -> list[Json]:
    """Text as rich-text items of at most :data:`MAX_TEXT` characters each."""
    style = style or _Style()
    items: list[Json] = []
    for start in range(0, len(text), MAX_TEXT):
        body: Json = {"content": text[start : start + MAX_TEXT]}
        if style.link:
            body["link"] = {"url": style.link}
        item: Json = {"type": "text", "text": body}
        annotations = style.annotations()
        if annotations:
            item["annotations"] = annotations
        items.append(item)
    return items
