r"""Notion page content <-> Notion-flavoured ("enhanced") markdown, for the markdown endpoints.

Follows https://developers.notion.com/guides/data-apis/enhanced-markdown (tabs indent children;
``\`` escapes ``\ * ~ ` $ [ ] < > { } | ^``; ``{color="…"}``/``{toggle="true"}`` attributes;
``<details>``, ``<callout>``, ``<table>``, ``<empty-block/>``, ``<page>``, ``<database>``, media
tags, ``<span underline|color>``, ``<br>``, ``<mention-*>``; Notion's MCP spec adds ``<embed>`` and
``<unknown url alt/>``), the PATCH bodies of https://developers.notion.com/reference/update-page-markdown
and makenotion/notion-sdk-js ``src/api-endpoints/pages.ts``, and recorded traffic: top-level blocks
are joined by one ``\n`` and blank input lines only separate blocks (every line is a block).

Where those are silent (CommonMark where it applies): ``**bold**``, ``*italic*``, ``~~strike~~``,
```code```, ``[text](url)``, ``$math$``; underline and colour as the documented spans
(``*_background`` is written ``*_bg``). A marker whose run is longer is opened first; whitespace
at the edge of an emphasis run, and at the ends of a line, is dropped from it, as CommonMark could
not read it back. Unmatched markers stay literal; ``_`` is no marker; a ``$`` cannot be inside an
inline equation. Text items over 2,000 code points are split. On input any deeper indentation
(tab = 4 columns) makes children; children of blocks that cannot nest become following siblings.
Numbered items are written ``1.``, ``2.``, …; code ``plain text`` is a bare fence and unknown fence
languages read as ``plain text``; code captions, mention names and date times are dropped.
``bookmark`` is written ``<bookmark url="…">caption</bookmark>``. ``<page>``, ``<database>`` and
``<unknown>`` tags read back as references carrying the existing block's ``id`` (``{"type":
"child_page", "id", "child_page": {"title"}}``, ``{"type": "unsupported", "id", "unsupported":
{"block_type"}}``) for the caller to keep, not to create. Selections match the exact text, else
``start...end`` (first ``start``, next ``end``); ``insert_content`` goes after the whole line (and
its indented children) where the selection ends, at its indentation; the other operations are
text substitutions. ``replace_content`` also takes ``content`` for ``new_str``.
"""

from __future__ import annotations

import itertools
import json
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any, cast
from urllib.parse import quote

from devfactory.errors import NotionValidationError

__all__ = ["MAX_TEXT_LENGTH", "apply_markdown_update", "blocks_to_markdown", "markdown_to_blocks"]

MAX_TEXT_LENGTH = 2000
Run = tuple[str, Any, dict[str, Any]]  # (text|equation|mention, value, style)

_ESCAPABLE = frozenset("\\*~`$[]<>{}|^")
_PUNCT = frozenset(string.punctuation)
_ANNOTATIONS = ("bold", "italic", "strikethrough", "underline", "code")
_PLAIN: dict[str, Any] = {**dict.fromkeys(_ANNOTATIONS, False), "color": "default", "link": None}
_LAYERS = ("color", "underline", "link", "bold", "italic", "strikethrough")
_MARKS = {"bold": "**", "italic": "*", "strikethrough": "~~"}
_STARS = {"italic": 1, "bold": 2, "bolditalic": 3}
_HEADINGS = {"heading_1": "#", "heading_2": "##", "heading_3": "###", "heading_4": "####"}
_ITEMS = {"bulleted_list_item": "-", "numbered_list_item": "1.", "to_do": "- [ ]", "quote": ">"}
_REFERENCES = {"page": "child_page", "database": "child_database", "unknown": "unsupported"}
_MEDIA = ("video", "audio", "file", "pdf", "embed", "bookmark")
_LANGUAGES = frozenset(
    "abap|agda|arduino|assembly|bash|basic|bnf|c|c#|c++|clojure|coffeescript|coq|css|dart|dhall|"  # noqa: SIM905
    "diff|docker|ebnf|elixir|elm|erlang|f#|flow|fortran|gherkin|glsl|go|graphql|groovy|haskell|"
    "hcl|html|idris|java|javascript|json|julia|kotlin|latex|less|lisp|livescript|llvm ir|lua|"
    "makefile|markdown|markup|matlab|mathematica|mermaid|nix|notion formula|objective-c|ocaml|"
    "pascal|perl|php|plain text|powershell|prolog|protobuf|purescript|python|r|racket|reason|ruby|"
    "rust|sass|scala|scheme|scss|shell|smalltalk|solidity|sql|swift|toml|typescript|vb.net|"
    "verilog|vhdl|visual basic|webassembly|xml|yaml|java/c/c++/c#".split("|")
)
_ALIASES = dict(
    pair.split("=")
    for pair in "py=python js=javascript ts=typescript sh=shell zsh=shell yml=yaml cpp=c++ "  # noqa: SIM905
    "csharp=c# cs=c# golang=go rb=ruby rs=rust kt=kotlin md=markdown tex=latex dockerfile=docker "
    "objc=objective-c fsharp=f# hs=haskell ps1=powershell proto=protobuf".split()
)
_UPDATE_TYPES = ("insert_content", "replace_content_range", "update_content", "replace_content")

_ATTRS = r'((?:\s+[\w-]+="[^"]*")*)'
_ATTR_RE = re.compile(r'([\w-]+)="([^"]*)"')
_SPAN_RE = re.compile(r'<span((?:\s+[\w-]+="[^"]*")+)\s*>')
_MENTION_RE = re.compile(r"<mention-([a-z-]+)" + _ATTRS + r"\s*(?:/>|>(.*?)</mention-\1>)")
_BR_RE = re.compile(r"<br\s*/?>")
_TICKS_RE = re.compile(r"`+")
_ID_RE = re.compile(r"[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")
_BLOCK_ATTRS_RE = re.compile(r'(?:^|\s)\{((?:\s*[\w-]+="[^"]*")+)\s*\}$')
_HEADING_RE = re.compile(r"(#{1,6})(?:[ \t]+(.*))?$")
_DIVIDER_RE = re.compile(r"(?:-{3,}|\*{3,}|_{3,})$")
_TODO_RE = re.compile(r"[-*+][ \t]+\[([ xX])\](?:[ \t]+(.*))?$")
_LINE_RES = {
    "bulleted_list_item": re.compile(r"[-*+](?:[ \t]+(.*))?$"),
    "numbered_list_item": re.compile(r"\d{1,9}[.)](?:[ \t]+(.*))?$"),
    "quote": re.compile(r">[ \t]?(.*)$"),
}
_IMAGE_RE = re.compile(r"!\[(.*)\]\(([^()\s]*)\)$")
_TAG_RE = re.compile(r"<([a-z_-]+)" + _ATTRS + r"\s*(?:/>|>(.*)</\1>)$")
_CONTAINER_RE = re.compile(r"<(details|callout|table)" + _ATTRS + r"\s*>$")
_TR_RE, _TD_RE = re.compile(r"<tr[^>]*>(.*?)</tr>", re.S), re.compile(r"<td[^>]*>(.*?)</td>", re.S)
_SUMMARY_RE = re.compile(r"<summary>(.*)</summary>$")
_FENCE_RE = re.compile(r"(`{3,})\s*([^`]*?)\s*$")
_LEADING_RE = re.compile(r"#{1,6}(?:\s|$)|[-+](?:\s|$)|-{3,}\s*$|_{3,}\s*$|!\[|\d{1,9}[.)](?:\s|$)")
_BLANK = r"[^\S\r\n]+"  # whitespace other than line breaks (which are written <br>)
_REFERENCE_RE = re.compile(r'<(?:page|database)\s[^>]*?url="([^"]*)"')


def _api_color(color: str) -> str:
    return color[:-3] + "_background" if color.endswith("_bg") else color


def _attrs(raw: str) -> dict[str, str]:
    return {k: v.replace("&quot;", '"') for k, v in _ATTR_RE.findall(raw)}


def _attr(value: object) -> str:
    return str(value).replace('"', "&quot;")


def _notion_url(block_id: object) -> str:
    return "https://www.notion.so/" + str(block_id).replace("-", "")


def _id_from(url: str) -> str:
    if not (match := _ID_RE.search(url)):
        return url.strip("{}").rsplit("/", 1)[-1]
    h = match.group().replace("-", "").lower()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _indent(line: str) -> int:
    """Columns of leading whitespace, a tab counting 4."""
    blank = line[: len(line) - len(line.lstrip(" \t"))]
    return len(blank) + 3 * blank.count("\t")


def _dedent(lines: Sequence[str]) -> list[str]:
    """Remove the smallest indentation of the non-blank lines from every line."""
    cols = min((_indent(line) for line in lines if line.strip()), default=0)
    out = []
    for line in lines:
        i = done = 0
        while i < len(line) and done < cols and line[i] in " \t":
            done, i = done + (4 if line[i] == "\t" else 1), i + 1
        out.append(line[i:])
    return out


def _plain(items: Sequence[Mapping[str, Any]]) -> str:
    keys = {"text": "content", "equation": "expression"}
    return "".join(
        str((item.get(kind) or {}).get(keys.get(kind, ""), item.get("plain_text", "")))
        for item in items
        for kind in [item.get("type", "text")]
    )


def _canonical(runs: Sequence[Run]) -> list[Run]:
    """Merge equal neighbours; whitespace at the edge of an emphasis run leaves the run."""
    units: list[list[Any]] = []
    for kind, value, style in runs:
        pieces = list(value) if kind == "text" else [value]
        units += [[kind, piece, dict(style)] for piece in pieces]
    for key in _MARKS:
        n = 0
        while n < len(units):
            m = n + 1
            if units[n][2][key]:
                while m < len(units) and units[m][2][key]:
                    m += 1
                for span in (range(n, m), range(m - 1, n - 1, -1)):
                    for unit in (units[u] for u in span):
                        if unit[0] != "text" or unit[2]["code"] or not re.match(_BLANK, unit[1]):
                            break
                        unit[2][key] = False
            n = m
    out: list[Run] = []
    for kind, value, style in units:
        if out and kind == "text" == out[-1][0] and out[-1][2] == style:
            out[-1] = (kind, out[-1][1] + value, style)
        elif kind != "text" or value:
            out.append((kind, value, style))
    return out


def _escape(text: str) -> str:
    return "".join("<br>" if ch in "\r\n" else "\\" + ch if ch in _ESCAPABLE else ch for ch in text)


def _code_span(content: str) -> str:
    if not content:
        return ""
    fence = "`" * (max(map(len, _TICKS_RE.findall(content)), default=0) + 1)
    edge = content[0] == " " == content[-1] and content.strip(" ")
    pad = " " if "`" in (content[0], content[-1]) or edge else ""
    return f"{fence}{pad}{content}{pad}{fence}"


def _leaf(kind: str, value: Any, style: Mapping[str, Any]) -> str:
    if kind == "text":
        if style["code"]:
            return "<br>".join(_code_span(part) for part in re.split("[\r\n]", value))
        return _escape(value)
    if kind == "equation":
        return "$" + re.sub("[\r\n]", " ", value) + "$" if value else ""
    mention = value.get("mention") or {}
    mtype = mention.get("type", "")
    data, name = mention.get(mtype) or {}, _escape(str(value.get("plain_text") or ""))
    if mtype == "date":
        end = f' end="{_attr(data["end"])}"' if data.get("end") else ""
        return f'<mention-date start="{_attr(data.get("start", ""))}"{end}/>'
    if mtype not in ("user", "page", "database"):
        return name
    url = f"user://{data.get('id', '')}" if mtype == "user" else _notion_url(data.get("id", ""))
    tag, name = f'mention-{mtype} url="{_attr(url)}"', name.removeprefix("@")
    return f"<{tag}>{name}</mention-{mtype}>" if name else f"<{tag}/>"


def _marks(key: str, value: Any) -> tuple[str, str]:
    if key == "color":
        return f'<span color="{_attr(value.replace("_background", "_bg"))}">', "</span>"
    if key == "underline":
        return '<span underline="true">', "</span>"
    if key == "link":
        return "[", "](" + "".join(quote(c) if c.isspace() or c in "()" else c for c in value) + ")"
    return _MARKS[key], _MARKS[key]


def _render_rich_text(items: Sequence[Mapping[str, Any]]) -> str:
    runs: list[Run] = []
    for item in items:
        ann, kind = item.get("annotations") or {}, item.get("type", "text")
        link = (item.get("text") or {}).get("link") if kind == "text" else None
        style: dict[str, Any] = {k: bool(ann.get(k)) for k in _ANNOTATIONS}
        style["color"] = ann.get("color") or "default"
        style["link"] = (link.get("url") or None) if isinstance(link, Mapping) else None
        runs.append((kind, item if kind == "mention" else _plain([item]), style))
    runs = _canonical(runs)
    on = [[(k, st[k]) for k in _LAYERS if st[k] not in (False, None, "default")] for *_, st in runs]

    def reach(pair: tuple[str, Any], n: int) -> int:
        return len(list(itertools.takewhile(lambda pairs: pair in pairs, on[n:])))

    out, stack = "", list[tuple[tuple[str, Any], int]]()
    for n, (kind, value, style) in enumerate(runs):
        while any(pair not in on[n] for pair, _ in stack):
            pair, at = stack.pop()
            opener, closer = _marks(*pair)
            out = out[: at - len(opener)] if at == len(out) else out + closer
        open_ = [pair for pair in on[n] if pair not in [p for p, _ in stack]]
        for pair in sorted(open_, key=lambda pair: -reach(pair, n)):  # longest run outermost
            out += _marks(*pair)[0]
            stack.append((pair, len(out)))
        out += _leaf(kind, value, style)
    for pair, at in reversed(stack):
        opener, closer = _marks(*pair)
        out = out[: at - len(opener)] if at == len(out) else out + closer
    return out


def _code_at(s: str, i: int) -> tuple[str, int] | None:
    """The code span opening at ``s[i]`` as (content, end), if it closes."""
    ticks = len(s) - i - len(s[i:].lstrip("`"))
    for closing in _TICKS_RE.finditer(s, i + ticks):
        if len(closing.group()) == ticks:
            content = s[i + ticks : closing.start()]
            if len(content) > 1 and content[0] == " " == content[-1] and content.strip(" "):
                content = content[1:-1]
            return content, closing.end()
    return None


def _equation_at(s: str, i: int) -> tuple[str, int] | None:
    j = i + 1
    while j < len(s) and s[j] != "$":
        j += 2 if s[j] == "\\" else 1
    return (s[i + 1 : j], j + 1) if i + 1 < j < len(s) else None


def _find_close(s: str, i: int, opener: str, closer: str) -> int | None:
    """Start of the ``closer`` matching an ``opener`` before ``i``, skipping escapes and atoms."""
    depth = 1
    while i < len(s):
        if s.startswith(closer, i):
            depth -= 1
            if not depth:
                return i
            i += len(closer)
        elif s.startswith(opener, i):
            depth, i = depth + 1, i + len(opener)
        elif s.startswith("](", i) and (end := s.find(")", i)) != -1:
            i = end + 1
        else:
            atom = _code_at(s, i) if s[i] == "`" else _equation_at(s, i) if s[i] == "$" else None
            i = i + 2 if s[i] == "\\" else atom[1] if atom else i + 1
    return None


def _link_at(s: str, i: int) -> tuple[int, int] | None:
    """(end of the text, end of the URL) of a ``[text](url)`` at ``s[i]``."""
    close = _find_close(s, i + 1, "[", "]")
    if close is None or not s.startswith("(", close + 1):
        return None
    end = s.find(")", close)
    return (close, end) if end > close + 2 and not re.search(r"\s", s[close + 2 : end]) else None


def _stars(k: int, pos: int, close: bool, open_: bool, stack: list[list[Any]]) -> Any:
    """Greedy reading of a ``*`` run: close from the top of the stack, open with the rest."""
    new, rem = [list(entry) for entry in stack], k
    while close and rem and new and new[-1][0] in _STARS:
        if _STARS[new[-1][0]] <= rem:
            rem -= _STARS[new.pop()[0]]
            continue
        if new[-1][0] == "bolditalic":
            new[-1][0], rem = "italic" if rem == 2 else "bold", 0
        break
    if open_ and rem:
        new.append([{1: "italic", 2: "bold"}.get(rem, "bolditalic"), pos])
        rem -= min(rem, 3)
    return new, rem


def _active(stack: list[list[Any]]) -> set[str]:
    return {mark for name, _ in stack for mark in _MARKS if mark in name}


def _delimiter(s: str, i: int, k: int, stack: list[list[Any]], no_open: set[int]) -> Any:
    """The emphasis stack after the ``*``/``~`` run ``s[i:i+k]``, and its literal characters."""
    close = i > 0 and not s[i - 1].isspace()
    open_ = i + k < len(s) and not s[i + k].isspace() and i not in no_open
    if s[i] == "~":
        if k == 2 and close and stack and stack[-1][0] == "strikethrough":
            return stack[:-1], 0
        return ([*stack, ["strikethrough", i]], 0) if k == 2 and open_ else (stack, k)
    new, rem = _stars(k, i, close, open_, stack)
    if close and open_ and stack and _active(new) == _active(stack):
        new, rem = _stars(k, i, False, True, stack)  # never closes and reopens: it only opens
    return new, rem


def _scan(s: str, base: Mapping[str, Any], out: list[Run], no_open: set[int]) -> set[int]:
    """Parse ``s`` into runs; returns the position of the innermost unclosed opener, if any."""
    stack: list[list[Any]] = []
    buf: list[str] = []

    def style(**extra: Any) -> dict[str, Any]:
        return {**base, **dict.fromkeys(_active(stack), True), **extra}

    def flush() -> None:
        if buf:
            out.append(("text", "".join(buf), style()))
            buf.clear()

    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and s[i + 1 : i + 2] in _PUNCT:
            buf.append(s[i + 1])
            i += 2
        elif ch == "<" and (found := _BR_RE.match(s, i)):
            buf.append("\n")
            i = found.end()
        elif (
            ch == "<"
            and (found := _SPAN_RE.match(s, i))
            and (end := _find_close(s, found.end(), "<span", "</span>")) is not None
        ):
            flush()
            attrs, color = _attrs(found.group(1)), style()["color"]
            underline = style()["underline"] or attrs.get("underline") == "true"
            extra = {"underline": underline, "color": _api_color(attrs.get("color", color))}
            _parse_into(s[found.end() : end], style(**extra), out)
            i = end + len("</span>")
        elif ch == "<" and (found := _MENTION_RE.match(s, i)):
            flush()
            attrs, kind = _attrs(found.group(2)), found.group(1)
            if kind in ("page", "database", "user") and attrs.get("url"):
                out.append(
                    ("mention", {"type": kind, kind: {"id": _id_from(attrs["url"])}}, style())
                )
            elif kind == "date" and attrs.get("start"):
                date = {k: attrs[k] for k in ("start", "end") if attrs.get(k)}
                out.append(("mention", {"type": "date", "date": date}, style()))
            else:
                _parse_into(found.group(3) or "", style(), out)
            i = found.end()
        elif ch == "`" and (atom := _code_at(s, i)):
            flush()
            out.append(("text", atom[0], style(code=True)))
            i = atom[1]
        elif ch == "$" and (atom := _equation_at(s, i)):
            flush()
            out.append(("equation", atom[0], style()))
            i = atom[1]
        elif ch == "[" and (link := _link_at(s, i)):
            flush()
            _parse_into(s[i + 1 : link[0]], style(link=s[link[0] + 2 : link[1]]), out)
            i = link[1] + 1
        elif ch in "*~`":
            k = len(s) - i - len(s[i:].lstrip(ch))
            new, rem = _delimiter(s, i, k, stack, no_open) if ch != "`" else (stack, k)
            if new != stack:
                flush()
                stack = new
            buf.append(ch * rem)
            i += k
        else:
            buf.append(ch)
            i += 1
    flush()
    return {stack[-1][1]} if stack else set()


def _parse_into(s: str, base: Mapping[str, Any], out: list[Run]) -> None:
    no_open: set[int] = set()
    while True:  # an opener never closed is read again as literal text
        runs: list[Run] = []
        if not (unclosed := _scan(s, base, runs, no_open)):
            out.extend(runs)
            return
        no_open |= unclosed


def _items(runs: Sequence[Run]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for kind, value, style in runs:
        ann = {**{k: bool(style[k]) for k in _ANNOTATIONS}, "color": style["color"]}
        if kind == "text":
            link = {"url": style["link"]} if style["link"] else None
            items += [
                {
                    "type": "text",
                    "text": {"content": value[at : at + MAX_TEXT_LENGTH], "link": link},
                    "annotations": dict(ann),
                }
                for at in range(0, len(value), MAX_TEXT_LENGTH)
            ]
        elif kind == "equation":
            items.append({"type": kind, kind: {"expression": value}, "annotations": ann})
        else:
            items.append({"type": kind, kind: value, "annotations": ann})
    return items


def _parse_rich_text(s: str) -> list[dict[str, Any]]:
    runs: list[Run] = []
    _parse_into(s, _PLAIN, runs)
    runs = _canonical(runs)
    for at, blank in ((0, f"^{_BLANK}"), (-1, f"{_BLANK}$")):  # a line's edge blanks vanish
        while runs and runs[at][0] == "text" and not runs[at][2]["code"]:
            if value := re.sub(blank, "", runs[at][1]):
                runs[at] = ("text", value, runs[at][2])
                break
            runs.pop(at)
    return _items(runs)


def _escape_leading(text: str) -> str:
    """Backslash-escape a line start that would otherwise read as another block type."""
    if not _LEADING_RE.match(text):
        return text
    digits = len(text) - len(text.lstrip(string.digits))
    return text[:digits] + "\\" + text[digits:]


def _block_attrs(**attrs: object) -> str:
    pairs = " ".join(f'{k}="{_attr(v)}"' for k, v in attrs.items() if v and v != "default")
    return " {" + pairs + "}" if pairs else ""


def _media_url(data: Mapping[str, Any]) -> str:
    for key in ("external", "file"):
        if isinstance(data.get(key), Mapping):
            return str(data[key].get("url", ""))
    return str(data.get("url", ""))


def _render_block(block: Mapping[str, Any], number: int) -> tuple[list[str], list[str], int]:
    """(lines before the children, lines after, children's extra indent: -1 none, -2 unknown)."""
    btype = str(block.get("type", ""))
    data: Mapping[str, Any] = block.get(btype) or {}
    text = _render_rich_text(data.get("rich_text") or [])
    color = str(data.get("color") or "default").replace("_background", "_bg")
    tag_color = f' color="{_attr(color)}"' if color != "default" else ""
    caption = _render_rich_text(data.get("caption") or [])
    if btype == "paragraph":
        return [(_escape_leading(text) or "<empty-block/>") + _block_attrs(color=color)], [], 1
    if btype in _HEADINGS:
        toggle = "true" if data.get("is_toggleable") else None
        line = f"{_HEADINGS[btype]} {text}".rstrip() + _block_attrs(toggle=toggle, color=color)
        return [line], [], 1 if toggle else 0
    if btype in _ITEMS:
        marker = "- [x]" if data.get("checked") else _ITEMS[btype].replace("1", str(number))
        return [f"{marker} {text}".rstrip() + _block_attrs(color=color)], [], 1
    if btype == "toggle":
        return [f"<details{tag_color}>", f"<summary>{text}</summary>"], ["</details>"], 1
    if btype == "callout":
        icon = data.get("icon") or {}
        icon = (icon.get("emoji") or _media_url(icon)) if isinstance(icon, Mapping) else ""
        icon_attr = f' icon="{_attr(icon)}"' if icon else ""
        head = [f"<callout{icon_attr}{tag_color}>"]
        if text or _children(block):
            head.append("\t" + (_escape_leading(text) or "<empty-block/>"))
        return head, ["</callout>"], 1
    if btype == "equation":
        body = str(data.get("expression", ""))
        return ["$$", *(body.split("\n") if body else []), "$$"], [], 0
    if btype == "code":
        body = _plain(data.get("rich_text") or [])
        fence = "`" * max(3, max(map(len, _TICKS_RE.findall(body)), default=0) + 1)
        lang = str(data.get("language") or "plain text").replace("plain text", "")
        return [fence + lang, *(body.split("\n") if body else []), fence], [], 0
    if btype == "divider":
        return ["---"], [], 0
    if btype == "image":
        return [f"![{caption}]({_media_url(data)})"], [], 0
    if btype in _MEDIA:
        src = "url" if btype == "bookmark" else "src"
        return [f'<{btype} {src}="{_attr(_media_url(data))}">{caption}</{btype}>'], [], 0
    if btype in ("child_page", "child_database"):
        tag, url = "page" if btype == "child_page" else "database", _notion_url(block.get("id", ""))
        title = _escape(str(data.get("title", "")))
        return [f'<{tag} url="{_attr(url)}">{title}</{tag}>'], [], -1
    if btype == "table_of_contents":
        return [f"<table_of_contents{tag_color}/>"], [], 0
    if btype == "table":
        flags = (("header-row", "has_column_header"), ("header-column", "has_row_header"))
        lines = ["<table" + "".join(f' {a}="true"' for a, k in flags if data.get(k)) + ">"]
        for row in _children(block):
            cells = (row.get("table_row") or {}).get("cells") or []
            lines += ["\t<tr>", *(f"\t\t<td>{_render_rich_text(c)}</td>" for c in cells), "\t</tr>"]
        return [*lines, "</table>"], [], -1
    url, alt = _attr(_notion_url(block.get("id", ""))), _attr(btype)
    return [f'<unknown url="{url}" alt="{alt}"/>'], [], -2


def _children(block: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    data = block.get(str(block.get("type", ""))) or {}
    return list(
        block.get("children") or (data.get("children") if isinstance(data, Mapping) else None) or []
    )


def _render_blocks(
    blocks: Sequence[Mapping[str, Any]], depth: int, out: list[str], unknown: list[str]
) -> None:
    number = 0
    for block in blocks:
        number = number + 1 if block.get("type") == "numbered_list_item" else 0
        head, tail, nest = _render_block(block, number)
        if nest == -2:
            unknown.append(str(block.get("id", "")))
        out += ["\t" * depth + line for line in head]
        if nest >= 0:
            _render_blocks(_children(block), depth + nest, out, unknown)
        out += ["\t" * depth + line for line in tail]


def blocks_to_markdown(blocks: Sequence[Mapping[str, Any]]) -> tuple[str, list[str]]:
    """Render blocks as enhanced markdown; returns ``(markdown, unknown_block_ids)``.

    Blocks are in Notion's response shape (``{"object": "block", "id", "type", <type>: {...}}``)
    with nested children under the block's top-level ``"children"`` key (the request shape,
    children under ``block[type]["children"]``, is accepted too). Top-level blocks are joined by
    one newline. Blocks with no markdown form render as ``<unknown url="…" alt="type"/>`` and
    their ids are returned in order.
    """
    out: list[str] = []
    unknown: list[str] = []
    _render_blocks(blocks, 0, out, unknown)
    return "\n".join(out), unknown


def _block(btype: str, data: dict[str, Any], color: str | None = None) -> dict[str, Any]:
    if color and color != "default":
        data["color"] = _api_color(color)
    return {"type": btype, btype: data}


def _parse_line(s: str) -> tuple[dict[str, Any], bool]:
    """The block on one stripped line, and whether it can hold children."""
    attrs: dict[str, str] = {}
    if found := _BLOCK_ATTRS_RE.search(s):
        attrs, s = _attrs(found.group(1)), s[: found.start()].rstrip()
    color = attrs.get("color")
    if s == "<empty-block/>":
        return _block("paragraph", {"rich_text": []}, color), True
    if m := _HEADING_RE.match(s):
        data: dict[str, Any] = {"rich_text": _parse_rich_text(m.group(2) or "")}
        if toggle := attrs.get("toggle") == "true":
            data["is_toggleable"] = True
        return _block(f"heading_{min(len(m.group(1)), 4)}", data, color), toggle
    if _DIVIDER_RE.match(s):
        return _block("divider", {}), False
    if m := _TODO_RE.match(s):
        data = {"rich_text": _parse_rich_text(m.group(2) or ""), "checked": m.group(1) != " "}
        return _block("to_do", data, color), True
    for btype, pattern in _LINE_RES.items():
        if m := pattern.match(s):
            return _block(btype, {"rich_text": _parse_rich_text(m.group(1) or "")}, color), True
    name, inner = "", ""
    if m := _IMAGE_RE.match(s):
        name, attrs, inner = "image", {"src": m[2]}, m[1]
    elif m := _TAG_RE.match(s):
        name, attrs, inner = m[1], _attrs(m[2]), m[3] or ""
    if btype := _REFERENCES.get(name, ""):
        title = {"title": _plain(_parse_rich_text(inner))}
        data = {"block_type": attrs.get("alt")} if name == "unknown" else title
        return {"type": btype, "id": _id_from(attrs.get("url", "")), btype: data}, False
    if name == "table_of_contents":
        return _block(name, {}, attrs.get("color")), False
    if name in (*_MEDIA, "image"):
        url = attrs.get("src") or attrs.get("url") or ""
        external: dict[str, Any] = {"type": "external", "external": {"url": url}}
        data = {"url": url} if name in ("embed", "bookmark") else external
        if caption := _parse_rich_text(inner):
            data["caption"] = caption
        return _block(name, data), False
    return _block("paragraph", {"rich_text": _parse_rich_text(s)}, color), True


def _container(name: str, attrs: Mapping[str, str], inner: list[str]) -> dict[str, Any]:
    if name == "table":
        cells = [_TD_RE.findall(row) for row in _TR_RE.findall("\n".join(inner))]
        rows = [[_parse_rich_text(cell.strip()) for cell in row] for row in cells]
        return _block(
            "table",
            {
                "table_width": max(map(len, rows), default=0),
                "has_column_header": attrs.get("header-row") == "true",
                "has_row_header": attrs.get("header-column") == "true",
                "children": [_block("table_row", {"cells": cells}) for cells in rows],
            },
        )
    data: dict[str, Any] = {}
    if name == "details":
        first = next((k for k, line in enumerate(inner) if line.strip()), -1)
        summary = _SUMMARY_RE.match(inner[first].strip()) if first >= 0 else None
        inner = [line for k, line in enumerate(inner) if k != first or not summary]
        data["rich_text"] = _parse_rich_text(summary.group(1) if summary else "")
    kids = _parse_lines(_dedent(inner))
    if name == "callout":
        data["rich_text"] = []
        if kids and kids[0]["type"] == "paragraph" and "id" not in kids[0]:
            head = kids.pop(0)["paragraph"]
            data["rich_text"], kids = head["rich_text"], head.get("children", []) + kids
        if icon := attrs.get("icon"):
            kind = "external" if icon.startswith(("http://", "https://")) else "emoji"
            data["icon"] = {"type": kind, kind: {"url": icon} if kind == "external" else icon}
    if kids:
        data["children"] = kids
    return _block("toggle" if name == "details" else name, data, attrs.get("color"))


def _fence_end(lines: Sequence[str], i: int) -> int | None:
    """Index after the code or equation fence opened by ``lines[i]`` (None if it opens none)."""
    s = lines[i].strip()
    if not (fence := _FENCE_RE.match(s)) and s != "$$":
        return None
    close, j = fence.group(1) if fence else "$$", i + 1
    while j < len(lines):
        t = lines[j].strip()
        if t == close if close == "$$" else t and set(t) == {"`"} and len(t) >= len(close):
            break
        j += 1
    return j + 1


def _parse_lines(lines: list[str]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    i = 0
    while i < len(lines):
        line, s = lines[i], lines[i].strip()
        if not s:
            i += 1
        elif (end := _fence_end(lines, i)) is not None:
            prefix = line[: len(line) - len(line.lstrip())]
            body = "\n".join(
                t[len(prefix) :] if t.startswith(prefix) else t.lstrip()
                for t in lines[i + 1 : end - 1]
            )
            if fence := _FENCE_RE.match(s):
                info = fence.group(2).lower()
                lang = info if info in _LANGUAGES else _ALIASES.get(info, "plain text")
                rich = _items([("text", body, _PLAIN)])
                blocks.append(_block("code", {"rich_text": rich, "language": lang}))
            else:
                blocks.append(_block("equation", {"expression": body}))
            i = end
        elif opening := _CONTAINER_RE.match(s):
            name, depth, j = opening.group(1), 1, i + 1
            while j < len(lines):
                if (end := _fence_end(lines, j)) is not None:
                    j = end
                    continue
                nested = _CONTAINER_RE.match(t := lines[j].strip())
                depth += 1 if nested and nested.group(1) == name else -(t == f"</{name}>")
                if not depth:
                    break
                j += 1
            blocks.append(_container(name, _attrs(opening.group(2)), lines[i + 1 : j]))
            i = j + 1
        else:
            block, can_nest = _parse_line(s)
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > _indent(line)):
                j += 1
            while j > i + 1 and not lines[j - 1].strip():
                j -= 1
            kids = _parse_lines(_dedent(lines[i + 1 : j]))
            blocks.append(block)
            if kids and can_nest:
                block[block["type"]]["children"] = kids
            else:
                blocks += kids
            i = j
    return blocks


def markdown_to_blocks(text: str) -> list[dict[str, Any]]:
    """Parse enhanced markdown into Notion block *request* dicts.

    E.g. ``"## Hi"`` gives ``[{"type": "heading_2", "heading_2": {"rich_text": [{"type": "text",
    "text": {"content": "Hi", "link": None}, "annotations": {...all six keys...}}]}}]``. Nested
    blocks go under ``block[type]["children"]``; optional keys (``color``, ``is_toggleable``,
    ``caption``, ``icon``, ``children``) appear only when set. ``<page>``, ``<database>`` and
    ``<unknown>`` tags give references carrying the existing block's ``id`` (see module docstring).
    """
    return _parse_lines(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def _js(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)


def _invalid(message: str) -> NotionValidationError:
    return NotionValidationError(f"body failed validation: {message}")


def _string(payload: Mapping[str, Any], where: str, name: str, required: bool = True) -> str | None:
    if name not in payload:
        if required:
            raise _invalid(f"{where}.{name} should be defined, instead was `undefined`.")
        return None
    if not isinstance(value := payload[name], str):
        raise _invalid(f"{where}.{name} should be a string, instead was `{_js(value)}`.")
    return value


def _select(text: str, selection: str, where: str) -> tuple[int, int]:
    """Span of ``selection`` in ``text``: an exact match, else ``start...end``."""
    head, dots, tail = selection.partition("...")
    if selection and (at := text.find(selection)) != -1:
        return at, at + len(selection)
    start = text.find(head) if head else 0
    end = (text.find(tail, start + len(head)) if tail else len(text)) if start != -1 else -1
    if not selection or not dots or end == -1:
        raise _invalid(f"{where} should match content in the page, instead was `{_js(selection)}`.")
    return start, end + len(tail)


def _join(first: str, second: str) -> str:
    if not first.strip() or not second.strip():
        return first if first.strip() else second
    return first.rstrip("\n") + "\n" + second


def _insert_after(text: str, end: int, content: str) -> str:
    lines = text.split("\n")
    at = text.count("\n", 0, end - 1)
    base, k = lines[at], at + 1
    while k < len(lines) and (not lines[k].strip() or _indent(lines[k]) > _indent(base)):
        k += 1
    while k > at + 1 and not lines[k - 1].strip():
        k -= 1
    prefix = base[: len(base) - len(base.lstrip())]
    new = [prefix + line if line.strip() else line for line in content.split("\n")]
    return "\n".join(lines[:k] + new + lines[k:])


def apply_markdown_update(current: str, update_type: str, payload: Mapping[str, Any]) -> str:
    """Apply one ``PATCH /v1/pages/{id}/markdown`` operation to the page's markdown.

    ``update_type`` is the body's ``type`` and ``payload`` the body's object under that key:
    ``insert_content {content, after? | position?: {type: start|end}}``,
    ``replace_content_range {content, content_range, allow_deleting_content?}``,
    ``update_content {content_updates: [{old_str, new_str, replace_all_matches?}],
    allow_deleting_content?}`` or ``replace_content {new_str, allow_deleting_content?}``.
    Returns the new markdown as text (parse it with :func:`markdown_to_blocks`).

    Raises NotionValidationError for an unknown type, a missing or mistyped field, a selection
    or ``old_str`` that matches nothing (or several places without ``replace_all_matches``),
    ``after`` together with ``position``, and for dropping a ``<page>``/``<database>`` tag
    without ``allow_deleting_content``.
    """
    if update_type not in _UPDATE_TYPES:
        allowed = ", ".join(f"`{_js(t)}`" for t in _UPDATE_TYPES)
        raise _invalid(f"body.type should be one of {allowed}, instead was `{_js(update_type)}`.")
    where, body = f"body.{update_type}", cast(object, payload)
    if not isinstance(body, Mapping):  # JSON bodies may hold anything
        shown = "undefined" if body is None else _js(body)
        raise _invalid(f"{where} should be an object, instead was `{shown}`.")
    if update_type == "insert_content":
        content = _string(payload, where, "content") or ""
        after, position = _string(payload, where, "after", False), payload.get("position")
        if after is not None and position is not None:
            raise _invalid(f"{where}.after and {where}.position cannot both be provided.")
        if after is not None:
            return _insert_after(current, _select(current, after, f"{where}.after")[1], content)
        kind = position.get("type") if isinstance(position, Mapping) else position or "end"
        if kind not in ("start", "end"):
            raise _invalid(
                f'{where}.position.type should be `"start"` or `"end"`, instead was `{_js(kind)}`.'
            )
        return _join(content, current) if kind == "start" else _join(current, content)
    if update_type == "replace_content":
        field = "content" if "new_str" not in payload and "content" in payload else "new_str"
        result = _string(payload, where, field) or ""
    elif update_type == "replace_content_range":
        content = _string(payload, where, "content") or ""
        start, end = _select(
            current, _string(payload, where, "content_range") or "", f"{where}.content_range"
        )
        result = current[:start] + content + current[end:]
    else:
        if not isinstance(updates := payload.get("content_updates"), list):
            shown = "undefined" if updates is None else _js(updates)
            raise _invalid(f"{where}.content_updates should be an array, instead was `{shown}`.")
        result = current
        for n, update in enumerate(updates):
            at = f"{where}.content_updates[{n}]"
            if not isinstance(update, Mapping):
                raise _invalid(f"{at} should be an object, instead was `{_js(update)}`.")
            old, new = _string(update, at, "old_str") or "", _string(update, at, "new_str") or ""
            if not (count := result.count(old) if old else 0):
                raise _invalid(
                    f"{at}.old_str should match content in the page, instead was `{_js(old)}`."
                )
            if count > 1 and update.get("replace_all_matches") is not True:
                raise _invalid(
                    f"{at}.old_str matches {count} places; set replace_all_matches to replace all."
                )
            result = result.replace(old, new)
    lost = set(_REFERENCE_RE.findall(current)) - set(_REFERENCE_RE.findall(result))
    if lost and payload.get("allow_deleting_content") is not True:
        raise NotionValidationError(
            f"The operation would delete child pages or databases: {', '.join(sorted(lost))}. "
            "Set allow_deleting_content to true to allow it."
        )
    return result
