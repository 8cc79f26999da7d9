"""Rich text: normalising request items into Notion's response shape, and plain text.

A request item may be as short as ``{"text": {"content": "Hi"}}``; Notion answers with the
full item (type, annotations with every key, plain_text, href). Limits: 2,000 characters per
text content or link URL, 1,000 per equation, 100 items per array.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devfactory.emulator import validation as v
from devfactory.emulator.ids import compact

__all__ = [
    "ANNOTATION_COLORS",
    "MentionLookup",
    "normalize_rich_text",
    "plain_text",
    "text_item",
]

ANNOTATION_COLORS = frozenset(
    [
        c + suffix
        for c in ("gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red")
        for suffix in ("", "_background")
    ]
    + ["default"]
)
_BOOL_ANNOTATIONS = ("bold", "italic", "strikethrough", "underline", "code")
_MENTION_TYPES = frozenset(
    [
        "user",
        "page",
        "database",
        "date",
        "link_preview",
        "template_mention",
        "custom_emoji",
        "link_mention",
    ]
)
MAX_TEXT = 2000
MAX_EQUATION = 1000

# Resolves a mention target to its display text: (kind, id) -> name, or None if unknown.
MentionLookup = Callable[[str, str], str | None]


def _annotations(raw: Any, path: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "bold": False,
        "italic": False,
        "strikethrough": False,
        "underline": False,
        "code": False,
        "color": "default",
    }
    if raw is v.UNDEFINED or raw is None:
        return result
    ann = v.obj(raw, path)
    for key in _BOOL_ANNOTATIONS:
        if key in ann:
            result[key] = v.boolean(ann[key], f"{path}.{key}")
    if "color" in ann:
        result["color"] = v.choice(ann["color"], f"{path}.color", ANNOTATION_COLORS)
    return result


def text_item(content: str, link: str | None = None) -> dict[str, Any]:
    """A response-shaped text item with default annotations."""
    return {
        "type": "text",
        "text": {"content": content, "link": {"url": link} if link else None},
        "annotations": {
            "bold": False,
            "italic": False,
            "strikethrough": False,
            "underline": False,
            "code": False,
            "color": "default",
        },
        "plain_text": content,
        "href": link,
    }


def _date_plain(date: dict[str, Any]) -> str:
    start = str(date.get("start") or "")
    end = date.get("end")
    return f"{start} → {end}" if end else start


def _mention(
    raw: Any, path: str, lookup: MentionLookup | None
) -> tuple[dict[str, Any], str, str | None]:
    mention = v.obj(raw, path)
    kind = mention.get("type")
    if kind is None:
        present = [k for k in mention if k in _MENTION_TYPES]
        kind = present[0] if len(present) == 1 else None
    if not isinstance(kind, str) or kind not in _MENTION_TYPES:
        v.fail(f"{path}.type", "should be a known mention type", mention.get("type", v.UNDEFINED))
    assert isinstance(kind, str)
    body = v.obj(v.member(mention, kind, path), f"{path}.{kind}")
    href: str | None = None
    if kind in ("user", "page", "database"):
        target = v.id_value(v.member(body, "id", f"{path}.{kind}"), f"{path}.{kind}.id")
        name = lookup(kind, target) if lookup else None
        if kind == "user":
            out: dict[str, Any] = {"type": "user", "user": {"object": "user", "id": target}}
            plain = f"@{name}" if name else "@Anonymous"
        else:
            out = {"type": kind, kind: {"id": target}}
            plain = name if name is not None else "Untitled"
            href = f"https://www.notion.so/{compact(target)}"
        return out, plain, href
    if kind == "date":
        start = v.string(v.member(body, "start", f"{path}.date"), f"{path}.date.start")
        end = body.get("end")
        if end is not None:
            end = v.string(end, f"{path}.date.end")
        tz = body.get("time_zone")
        date = {"start": start, "end": end, "time_zone": tz}
        return {"type": "date", "date": date}, _date_plain(date), None
    if kind in ("link_preview", "link_mention"):
        url = v.string(
            v.member(body, "url", f"{path}.{kind}"), f"{path}.{kind}.url", max_length=MAX_TEXT
        )
        return {"type": kind, kind: {"url": url}}, url, url
    return {"type": kind, kind: body}, str(body.get("name", "")), None


def normalize_rich_text(
    raw: Any, path: str, *, lookup: MentionLookup | None = None, max_items: int = 100
) -> list[dict[str, Any]]:
    """Validate a request rich-text array and return it in response form."""
    items = v.array(raw, path, max_items=max_items)
    result: list[dict[str, Any]] = []
    for index, raw_item in enumerate(items):
        ipath = f"{path}[{index}]"
        item = v.obj(raw_item, ipath)
        kind = item.get("type")
        if kind is None:
            kind = next((k for k in ("text", "mention", "equation") if k in item), None)
        if kind not in ("text", "mention", "equation"):
            v.fail(f"{ipath}.text", "should be defined", v.UNDEFINED)
        annotations = _annotations(item.get("annotations", v.UNDEFINED), f"{ipath}.annotations")
        if kind == "text":
            text = v.obj(v.member(item, "text", ipath), f"{ipath}.text")
            content = v.string(
                v.member(text, "content", f"{ipath}.text"),
                f"{ipath}.text.content",
                max_length=MAX_TEXT,
            )
            link_raw = text.get("link")
            link: str | None = None
            if link_raw is not None:
                link_obj = v.obj(link_raw, f"{ipath}.text.link")
                link = v.string(
                    v.member(link_obj, "url", f"{ipath}.text.link"),
                    f"{ipath}.text.link.url",
                    max_length=MAX_TEXT,
                )
            out = text_item(content, link)
            out["annotations"] = annotations
            result.append(out)
        elif kind == "equation":
            eq = v.obj(v.member(item, "equation", ipath), f"{ipath}.equation")
            expression = v.string(
                v.member(eq, "expression", f"{ipath}.equation"),
                f"{ipath}.equation.expression",
                max_length=MAX_EQUATION,
            )
            result.append(
                {
                    "type": "equation",
                    "equation": {"expression": expression},
                    "annotations": annotations,
                    "plain_text": expression,
                    "href": None,
                }
            )
        else:
            mention, plain, href = _mention(
                v.member(item, "mention", ipath), f"{ipath}.mention", lookup
            )
            result.append(
                {
                    "type": "mention",
                    "mention": mention,
                    "annotations": annotations,
                    "plain_text": plain,
                    "href": href,
                }
            )
    return result


def plain_text(items: list[dict[str, Any]] | None) -> str:
    """The concatenated plain text of response-shaped rich text."""
    if not items:
        return ""
    return "".join(str(item.get("plain_text", "")) for item in items)
