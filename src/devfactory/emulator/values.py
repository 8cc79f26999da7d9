"""Page property values: request -> stored form -> response, per property type.

Stored forms (in ``Page.properties``, keyed by property id) are the cheapest to query:

=================================  ==============================================
title, rich_text                   rich text items, response shape
number                             int | float | None
select, status                     option id | None
multi_select                       list of option ids
date                               {"start", "end", "time_zone"} | None
people                             list of user ids
files                              list of file objects, response shape
checkbox                           bool
url, email, phone_number           str | None
relation                           list of page ids
unique_id                          int (the number; prefix is in the schema)
=================================  ==============================================

Formula, rollup and the created/edited types are not stored; :mod:`devfactory.emulator.compute`
derives them on read.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from devfactory.emulator import validation as v
from devfactory.emulator.clock import wall_ms
from devfactory.emulator.context import Ctx
from devfactory.emulator.model import DataSource, FileUpload, Page, User
from devfactory.emulator.richtext import normalize_rich_text, plain_text, text_item
from devfactory.errors import NotionValidationError

__all__ = [
    "READ_ONLY_TYPES",
    "STORED_TYPES",
    "convert",
    "empty",
    "live_relations",
    "mention_lookup",
    "normalize_date",
    "option_by_id",
    "parse_value",
    "render_stored",
    "user_json",
]

STORED_TYPES = frozenset(
    [
        "title",
        "rich_text",
        "number",
        "select",
        "multi_select",
        "status",
        "date",
        "people",
        "files",
        "checkbox",
        "url",
        "email",
        "phone_number",
        "relation",
        "unique_id",
    ]
)
READ_ONLY_TYPES = frozenset(
    [
        "formula",
        "rollup",
        "created_time",
        "created_by",
        "last_edited_time",
        "last_edited_by",
        "unique_id",
    ]
)
_LIST_TYPES = frozenset(["title", "rich_text", "multi_select", "people", "files", "relation"])
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_URL = 2000
MAX_EMAIL = 200
MAX_PHONE = 200
MAX_OPTION_NAME = 100
COLORS = ("default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red")


def empty(prop_type: str) -> Any:
    """The stored form of an empty value of ``prop_type``."""
    if prop_type in _LIST_TYPES:
        return []
    if prop_type == "checkbox":
        return False
    return None


def mention_lookup(ctx: Ctx) -> Any:
    """A resolver for mention display names (users by name, pages and databases by title)."""

    def lookup(kind: str, target: str) -> str | None:
        record = ctx.store.get(target)
        if kind == "user" and isinstance(record, User):
            return record.name
        if kind == "page" and isinstance(record, Page):
            return page_title(ctx, record)
        if kind == "database" and record is not None:
            return plain_text(getattr(record, "title", []))
        return None

    return lookup


def page_title(ctx: Ctx, page: Page) -> str:
    """The plain-text title of a page (row or not)."""
    return plain_text(page.properties.get("title"))


def normalize_date(raw: Any, path: str) -> dict[str, Any] | None:
    """Validate a date value ``{start, end?, time_zone?}`` and put it in Notion's answer form.

    As Notion does, a ``time_zone`` is applied to naive times and then rendered as a UTC
    offset in ``start`` / ``end``; answers always carry ``time_zone: null``.
    """
    if raw is None:
        return None
    value = v.obj(raw, path)
    zone: ZoneInfo | None = None
    tz = value.get("time_zone")
    if tz is not None:
        tz = v.string(tz, f"{path}.time_zone", max_length=64)
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            v.fail(f"{path}.time_zone", "should be a valid IANA time zone", tz)
    start = _date_string(v.member(value, "start", path), f"{path}.start", zone)
    end_raw = value.get("end")
    end = None if end_raw is None else _date_string(end_raw, f"{path}.end", zone)
    return {"start": start, "end": end, "time_zone": None}


def _date_string(raw: Any, path: str, zone: ZoneInfo | None = None) -> str:
    text = v.string(raw, path)
    if _DATE_ONLY.match(text):
        try:
            date.fromisoformat(text)
        except ValueError:
            v.fail(path, "should be a valid ISO 8601 date string", text)
        return text
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        v.fail(path, "should be a valid ISO 8601 date string", text)
    if dt.tzinfo is None and zone is not None:
        dt = dt.replace(tzinfo=zone)
    base = wall_ms(dt)
    if dt.tzinfo is None:
        return base
    offset = dt.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{base}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def option_by_id(prop: dict[str, Any], option_id: str | None) -> dict[str, Any] | None:
    """The option of a select/multi_select/status property with this id."""
    if option_id is None:
        return None
    for option in prop["config"].get("options", []):
        if option["id"] == option_id:
            return option  # type: ignore[no-any-return]
    return None


def _resolve_option(
    ctx: Ctx, ds: DataSource, prop: dict[str, Any], raw: Any, path: str, *, create: bool
) -> str:
    """Find (or, for select/multi_select, add) the option a request names; its id."""
    ref = v.obj(raw, path)
    options: list[dict[str, Any]] = prop["config"].setdefault("options", [])
    if "id" in ref and ref["id"] is not None:
        option_id = v.string(ref["id"], f"{path}.id")
        for option in options:
            if option["id"] == option_id:
                return str(option["id"])
        if "name" not in ref:
            v.fail(f"{path}.id", "should be the id of an existing option", option_id)
    name = v.string(
        v.member(ref, "name", path), f"{path}.name", max_length=MAX_OPTION_NAME, min_length=1
    )
    if "," in name and prop["type"] != "status":
        raise NotionValidationError(f"Select option names cannot contain commas: `{name}`.")
    for option in options:
        if option["name"] == name:
            return str(option["id"])
    if not create:
        raise NotionValidationError(
            f'Invalid status option. Status option "{name}" does not exist for property "{prop["name"]}".'
        )
    from devfactory.emulator.ids import new_option_id

    color = ref.get("color")
    if color is not None:
        color = v.choice(color, f"{path}.color", COLORS)
    option = {
        "id": new_option_id(),
        "name": name,
        "color": color or COLORS[(len(options) + 1) % len(COLORS)],
        "description": None,
    }
    options.append(option)
    ctx.store.touch(ds)
    return str(option["id"])


def parse_value(
    ctx: Ctx, ds: DataSource | None, prop: dict[str, Any], raw: Any, path: str, page_id: str | None
) -> Any:
    """Validate a request value for ``prop`` and return its stored form."""
    ptype: str = prop["type"]
    if ptype in READ_ONLY_TYPES:
        raise NotionValidationError(
            f"{prop['name']} is a {ptype} property; its value is computed and cannot be set."
        )
    if isinstance(raw, list) and ptype in ("title", "rich_text"):
        inner: Any = raw
    else:
        wrapper = v.obj(raw, path)
        declared = wrapper.get("type")
        if declared is not None and declared != ptype:
            v.fail(f"{path}.type", f'should be `"{ptype}"`', declared)
        if ptype not in wrapper:
            v.fail(f"{path}.{ptype}", "should be defined", v.UNDEFINED)
        inner = wrapper[ptype]
        path = f"{path}.{ptype}"
    if ptype in ("title", "rich_text"):
        return normalize_rich_text(inner, path, lookup=mention_lookup(ctx))
    if ptype == "number":
        return None if inner is None else v.number(inner, path)
    if ptype == "checkbox":
        return v.boolean(inner, path)
    if ptype == "url":
        return None if inner is None else v.string(inner, path, max_length=MAX_URL)
    if ptype == "email":
        return None if inner is None else v.string(inner, path, max_length=MAX_EMAIL)
    if ptype == "phone_number":
        return None if inner is None else v.string(inner, path, max_length=MAX_PHONE)
    if ptype in ("select", "status"):
        if inner is None:
            return None
        assert ds is not None
        return _resolve_option(ctx, ds, prop, inner, path, create=ptype == "select")
    if ptype == "multi_select":
        items = v.array(inner, path)
        assert ds is not None
        ids: list[str] = []
        for i, item in enumerate(items):
            option_id = _resolve_option(ctx, ds, prop, item, f"{path}[{i}]", create=True)
            if option_id not in ids:
                ids.append(option_id)
        return ids
    if ptype == "date":
        return normalize_date(inner, path)
    if ptype == "people":
        people: list[str] = []
        for i, item in enumerate(v.array(inner, path)):
            ref = v.obj(item, f"{path}[{i}]")
            user_id = v.id_value(v.member(ref, "id", f"{path}[{i}]"), f"{path}[{i}].id")
            if not isinstance(ctx.store.get(user_id), User):
                raise NotionValidationError(
                    f"User with ID {user_id} does not exist in this workspace."
                )
            if user_id not in people:
                people.append(user_id)
        return people
    if ptype == "files":
        return [
            _parse_file(ctx, item, f"{path}[{i}]") for i, item in enumerate(v.array(inner, path))
        ]
    if ptype == "relation":
        return _parse_relation(ctx, prop, inner, path, page_id)
    raise NotionValidationError(f"Property type `{ptype}` has no writable value.")


def _parse_file(ctx: Ctx, raw: Any, path: str) -> dict[str, Any]:
    item = v.obj(raw, path)
    kind = item.get("type") or next(
        (k for k in ("external", "file_upload", "file") if k in item), None
    )
    if kind not in ("external", "file_upload", "file"):
        v.fail(f"{path}.external", "should be defined", v.UNDEFINED)
    body = v.obj(v.member(item, kind, path), f"{path}.{kind}")
    name = item.get("name")
    if kind == "file_upload":
        upload_id = v.id_value(
            v.member(body, "id", f"{path}.file_upload"), f"{path}.file_upload.id"
        )
        upload = ctx.store.get(upload_id)
        if not isinstance(upload, FileUpload) or upload.status != "uploaded":
            raise NotionValidationError(
                f"The file upload with ID {upload_id} does not exist or has not been uploaded yet."
            )
        return {
            "name": str(name or upload.filename or "file"),
            "type": "file",
            "file": {"url": f"{ctx.base_url}/__files/{upload_id}", "expiry_time": None},
        }
    url = v.string(
        v.member(body, "url", f"{path}.{kind}"), f"{path}.{kind}.url", max_length=MAX_URL
    )
    if name is None:
        name = url.rsplit("/", 1)[-1] or url
    name = v.string(name, f"{path}.name", max_length=MAX_URL)
    out: dict[str, Any] = {"name": name, "type": kind, kind: {"url": url}}
    if kind == "file":
        out["file"]["expiry_time"] = body.get("expiry_time")
    return out


def _parse_relation(
    ctx: Ctx, prop: dict[str, Any], raw: Any, path: str, page_id: str | None
) -> list[str]:
    target_ds = prop["config"].get("data_source_id")
    result: list[str] = []
    for i, item in enumerate(v.array(raw, path)):
        ref = v.obj(item, f"{path}[{i}]")
        related = v.id_value(v.member(ref, "id", f"{path}[{i}]"), f"{path}[{i}].id")
        target = ctx.store.get(related)
        if not isinstance(target, Page) or target.parent_id != target_ds:
            raise NotionValidationError(
                f"Relation {prop['name']}: page {related} is not in the related data source {target_ds}."
            )
        if related not in result:
            result.append(related)
    return result


def live_relations(ctx: Ctx, stored: list[str] | None) -> list[str]:
    """Related page ids without those in the trash (they come back when restored)."""
    records = ctx.store.records
    out = []
    for page_id in stored or []:
        page = records.get(page_id)
        if isinstance(page, Page) and not page.in_trash:
            out.append(page_id)
    return out


def user_json(ctx: Ctx, user_id: str, *, full: bool = False) -> dict[str, Any]:
    """A user reference; ``full`` adds name, avatar and type as people values show them."""
    if not full:
        return {"object": "user", "id": user_id}
    user = ctx.store.get(user_id)
    if not isinstance(user, User):
        return {"object": "user", "id": user_id}
    out: dict[str, Any] = {
        "object": "user",
        "id": user.id,
        "name": user.name,
        "avatar_url": user.avatar_url,
        "type": user.type,
    }
    if user.type == "person":
        with_email = "read_user_with_email" in ctx.integration.capabilities
        out["person"] = {"email": user.email} if with_email else {}
    else:
        out["bot"] = {}
    return out


def _option_json(option: dict[str, Any] | None) -> dict[str, Any] | None:
    if option is None:
        return None
    return {"id": option["id"], "name": option["name"], "color": option["color"]}


def render_stored(ctx: Ctx, prop: dict[str, Any], stored: Any) -> Any:
    """The response form of a stored value (the part under the type key)."""
    ptype = prop["type"]
    if ptype in ("select", "status"):
        return _option_json(option_by_id(prop, stored))
    if ptype == "multi_select":
        return [
            o
            for o in (_option_json(option_by_id(prop, oid)) for oid in stored or [])
            if o is not None
        ]
    if ptype == "people":
        return [user_json(ctx, uid, full=True) for uid in stored or []]
    if ptype == "relation":
        return [{"id": pid} for pid in live_relations(ctx, stored)]
    if ptype == "unique_id":
        return {"prefix": prop["config"].get("prefix"), "number": stored}
    if stored is None:
        return empty(ptype)
    return stored


def as_text(ctx: Ctx, prop: dict[str, Any], stored: Any) -> str:
    """A plain-text rendering of a stored value (used when a property changes type)."""
    ptype = prop["type"]
    if ptype in ("title", "rich_text"):
        return plain_text(stored)
    if ptype in ("select", "status"):
        option = option_by_id(prop, stored)
        return str(option["name"]) if option else ""
    if ptype == "multi_select":
        return ", ".join(str(o["name"]) for o in (option_by_id(prop, i) for i in stored or []) if o)
    if ptype == "date":
        return str(stored["start"]) if stored else ""
    if ptype == "checkbox":
        return "Yes" if stored else ""
    if ptype == "number":
        if stored is None:
            return ""
        return str(int(stored)) if float(stored).is_integer() else str(stored)
    if ptype == "people":
        names = []
        for uid in stored or []:
            user = ctx.store.get(uid)
            names.append(user.name if isinstance(user, User) else uid)
        return ", ".join(names)
    if ptype == "files":
        return ", ".join(str(f.get("name", "")) for f in stored or [])
    if ptype == "relation":
        return ", ".join(stored or [])
    if ptype == "unique_id":
        prefix = prop["config"].get("prefix")
        return "" if stored is None else (f"{prefix}-{stored}" if prefix else str(stored))
    return "" if stored is None else str(stored)


def convert(ctx: Ctx, ds: DataSource, old: dict[str, Any], new: dict[str, Any], stored: Any) -> Any:
    """Best-effort conversion of a stored value when a property changes type, as the Notion
    UI does: through the value's text. What cannot be converted becomes empty."""
    text = as_text(ctx, old, stored).strip()
    target = new["type"]
    if not text:
        return empty(target)
    if target in ("title", "rich_text"):
        return [text_item(text[i : i + 2000]) for i in range(0, min(len(text), 200_000), 2000)]
    if target == "number":
        try:
            number = float(text.replace(",", ""))
        except ValueError:
            return None
        return int(number) if number.is_integer() else number
    if target == "checkbox":
        return text.lower() not in ("", "no", "false", "0")
    if target in ("url", "email", "phone_number"):
        return text[:MAX_URL]
    if target in ("select", "status", "multi_select"):
        names = (
            [text]
            if target != "multi_select"
            else [t.strip() for t in text.split(",") if t.strip()]
        )
        ids = []
        for name in names:
            name = (
                name[:MAX_OPTION_NAME].replace(",", " ")
                if target != "status"
                else name[:MAX_OPTION_NAME]
            )
            try:
                ids.append(
                    _resolve_option(ctx, ds, new, {"name": name}, "body", create=target != "status")
                )
            except NotionValidationError:
                continue
        if target == "multi_select":
            return ids
        return ids[0] if ids else None
    if target == "date":
        try:
            return normalize_date({"start": text}, "body")
        except NotionValidationError:
            return None
    return empty(target)
