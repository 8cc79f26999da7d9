"""Plain values ↔ Notion property values, per property type, for the MCP Notion server.

An agent reads and writes a row as ``{"Status": "Active", "Budget": 1200, "Client": "Acme
Corp"}``, not as Notion's nested property objects. Both directions live here, as pure
functions over a data source's schema (an :class:`~devfactory.deploy.observe.ObservedDatabase`):

- :func:`plain_value` turns a Notion property value into the plain value (text, a number, an
  option name, ``[names]``, an ISO date, related titles…); what it returns is what
  :func:`convert_values` takes back, so a value read can be written again unchanged;
- :func:`convert_values` checks plain values against the schema (unknown property, wrong type,
  unknown option, computed property) and turns them into Notion property values with the
  deploy engine's own seed-row converter (:func:`~devfactory.deploy.desired.row_payload`).

Names the server must look up — a related page given by title, a person given by name — stay
``{"$ref": …}`` placeholders (the deploy engine's convention, :func:`~devfactory.deploy.desired.ref`)
until the server resolved them: :func:`references` lists them, :func:`substitute` fills them in.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from devfactory.deploy.desired import (
    COMPUTED_TYPES,
    DesiredDatabase,
    DesiredProperty,
    ref,
    row_payload,
)
from devfactory.deploy.observe import ObservedDatabase, ObservedProperty, plain

__all__ = [
    "READ_ONLY_TYPES",
    "VALUE_HINTS",
    "Converted",
    "convert_values",
    "is_page_id",
    "normalise_id",
    "option_names",
    "parse_date",
    "plain_properties",
    "plain_value",
    "property_named",
    "ref_key",
    "references",
    "related_ids",
    "substitute",
    "unknown_property",
]

Json = dict[str, Any]

READ_ONLY_TYPES = COMPUTED_TYPES | {"button", "verification", "location", "place"}
"""Types Notion computes (or this server does not write): their values are read-only here."""

VALUE_HINTS: dict[str, str] = {
    "title": "text",
    "rich_text": "text",
    "number": "a number",
    "checkbox": "true or false",
    "select": "one option name",
    "status": "one option name",
    "multi_select": "a list of option names (or one name)",
    "date": 'an ISO date "2026-12-01" (or date-time), or {"start": …, "end": …}',
    "url": "a URL",
    "email": "an e-mail address",
    "phone_number": "a phone number",
    "people": "user ids or names (a list, or one)",
    "relation": "titles or page ids of rows in the related database (a list, or one)",
    "files": "external file URLs (a list, or one)",
}
"""What a plain value of each writable type looks like (shown by ``describe_database``)."""

_ID_RE = re.compile(
    r"^([0-9a-fA-F]{8})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{12})$"
)
_URL_ID_RE = re.compile(r"([0-9a-fA-F]{32})(?:[?#].*)?$")


def normalise_id(text: str) -> str | None:
    """The dashed form of a Notion id given with or without dashes, or inside a Notion URL
    (``https://www.notion.so/Acme-Corp-0e5d2035…``); None when ``text`` is not one."""
    text = text.strip()
    match = _ID_RE.match(text)
    if match is None and text.startswith(("http://", "https://")):
        found = _URL_ID_RE.search(text)
        match = _ID_RE.match(found.group(1)) if found else None
    return "-".join(match.groups()).lower() if match else None


def is_page_id(text: str) -> bool:
    """Whether ``text`` is a Notion id (a value taken as an id, never as a title)."""
    return normalise_id(text) is not None


def property_named(db: ObservedDatabase, name: str) -> ObservedProperty | None:
    """The property called ``name`` (exactly, else ignoring case when that is unique)."""
    found = db.named(name)
    if found is not None:
        return found
    folded = [p for p in db.properties.values() if p.name.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


def unknown_property(db: ObservedDatabase, name: str) -> str:
    """The message for a property ``db`` does not have, with the closest names."""
    names = sorted(p.name for p in db.properties.values())
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"{db.title} has no property {name!r}{hint} (properties: {', '.join(names)})"


def option_names(prop: ObservedProperty) -> list[str] | None:
    """The option names of a select, multi_select or status property (None for others)."""
    if prop.type not in ("select", "multi_select", "status"):
        return None
    options = prop.config.get("options") or []
    return [o if isinstance(o, str) else str(o.get("name")) for o in options]


def parse_date(text: str) -> date | datetime | None:
    """An ISO date or date-time (``Z`` allowed), or None when ``text`` is neither."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


# ---------------------------------------------------------------------------- Notion → plain


def _user(user: Mapping[str, Any], names: Mapping[str, str]) -> str:
    user_id = str(user.get("id", ""))
    return str(user.get("name") or names.get(user_id) or user_id)


def _date(body: Mapping[str, Any] | None) -> Any:
    if not body:
        return None
    if body.get("end"):
        return {"start": body.get("start"), "end": body.get("end")}
    return body.get("start")


def _file(item: Mapping[str, Any]) -> str:
    body = item.get(str(item.get("type", "")), {})
    url = body.get("url") if isinstance(body, Mapping) else None
    return str(url or item.get("name", ""))


def _formula(body: Mapping[str, Any]) -> Any:
    kind = str(body.get("type", ""))
    if kind == "date":
        return _date(body.get("date"))
    return body.get(kind)


def _rollup(body: Mapping[str, Any], titles: Mapping[str, str], users: Mapping[str, str]) -> Any:
    kind = str(body.get("type", ""))
    if kind == "number":
        return body.get("number")
    if kind == "date":
        return _date(body.get("date"))
    if kind == "array":
        return [plain_value(item, titles, users) for item in body.get("array", [])]
    return None  # "incomplete" or "unsupported": Notion did not compute a value


def plain_value(
    value: Mapping[str, Any],
    titles: Mapping[str, str] | None = None,
    users: Mapping[str, str] | None = None,
) -> Any:
    """The plain form of one Notion property value (``{"type": "select", "select": {…}}``).

    ``titles`` maps page ids to titles (related pages show as titles when known, else as
    ids); ``users`` maps user ids to names (people show as names when known, else as ids).
    """
    titles = titles or {}
    users = users or {}
    kind = str(value.get("type", ""))
    body = value.get(kind)
    if kind in ("title", "rich_text"):
        return plain(body)
    if kind in ("select", "status"):
        return body.get("name") if body else None
    if kind == "multi_select":
        return [o.get("name") for o in body or []]
    if kind == "date":
        return _date(body)
    if kind in ("people",):
        return [_user(u, users) for u in body or []]
    if kind in ("created_by", "last_edited_by"):
        return _user(body, users) if body else None
    if kind == "relation":
        return [titles.get(r["id"], r["id"]) for r in body or []]
    if kind == "files":
        return [_file(f) for f in body or []]
    if kind == "formula":
        return _formula(body or {})
    if kind == "rollup":
        return _rollup(body or {}, titles, users)
    if kind == "unique_id":
        if not body or body.get("number") is None:
            return None
        prefix = body.get("prefix")
        return f"{prefix}-{body['number']}" if prefix else body["number"]
    if kind == "verification":
        return body.get("state") if body else None
    if kind == "button":
        return None
    return body  # number, checkbox, url, email, phone_number, created_time, last_edited_time


def plain_properties(
    page: Mapping[str, Any],
    titles: Mapping[str, str] | None = None,
    users: Mapping[str, str] | None = None,
) -> Json:
    """Every property of a page as plain values, by name."""
    return {
        name: plain_value(value, titles, users)
        for name, value in page.get("properties", {}).items()
    }


def related_ids(page: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(property name, page id)`` for every related page a page's relations name."""
    for name, value in page.get("properties", {}).items():
        if value.get("type") == "relation":
            for item in value.get("relation") or []:
                yield name, str(item["id"])


# ---------------------------------------------------------------------------- plain → Notion


@dataclass
class Converted:
    """Plain values turned into Notion property values, or what is wrong with them.

    ``properties`` may hold ``{"$ref": "row", "db", "title"}`` and ``{"$ref": "person",
    "name"}`` placeholders (see :func:`references`)."""

    properties: Json = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _items(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _check_text(prop: ObservedProperty, value: Any) -> tuple[Any, str | None]:
    if value is None:
        return "", None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None, f"{prop.name} is {prop.type}: give text, not {_kind(value)}"
    return str(value), None


def _check_number(prop: ObservedProperty, value: Any) -> tuple[Any, str | None]:
    if value is None:
        return None, None
    if isinstance(value, str):
        try:
            number = float(value.replace(",", "").strip())
        except ValueError:
            return None, f"{prop.name} is a number: {value!r} is not one"
        value = int(number) if number.is_integer() else number
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, f"{prop.name} is a number: give a number, not {_kind(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"{prop.name} is a number: {value} is not a finite number"
    return value, None


def _check_checkbox(prop: ObservedProperty, value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool):
        return value, None
    return None, f"{prop.name} is a checkbox: give true or false, not {_kind(value)}"


def _check_options(prop: ObservedProperty, value: Any) -> tuple[Any, str | None]:
    names = option_names(prop) or []
    values = _items(value)
    if prop.type != "multi_select" and len(values) > 1:
        return None, f"{prop.name} is a {prop.type}: give one option, not {len(values)}"
    for item in values:
        if not isinstance(item, str):
            return None, f"{prop.name} is a {prop.type}: give option names, not {_kind(item)}"
        if names and item not in names:
            close = difflib.get_close_matches(item, names, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return (
                None,
                f"{prop.name}: {item!r} is not an option{hint}; options: {', '.join(names)}",
            )
    if prop.type == "multi_select":
        return values, None
    return (values[0] if values else None), None


def _check_date(prop: ObservedProperty, value: Any) -> tuple[Any, str | None]:
    if value is None or value == "":
        return None, None
    if isinstance(value, str):
        if parse_date(value) is None:
            return None, f"{prop.name} is a date: {value!r} is not an ISO date (2026-12-01)"
        return value, None
    if isinstance(value, Mapping) and set(value) <= {"start", "end"} and value.get("start"):
        for part in ("start", "end"):
            text = value.get(part)
            if text is not None and (not isinstance(text, str) or parse_date(text) is None):
                return None, f"{prop.name}.{part}: {text!r} is not an ISO date (2026-12-01)"
        return {"start": value["start"], "end": value.get("end")}, None
    return None, f'{prop.name} is a date: give "2026-12-01" or {{"start": …, "end": …}}'


def _check_strings(prop: ObservedProperty, value: Any) -> tuple[Any, str | None]:
    values = _items(value)
    if not all(isinstance(v, str) and v.strip() for v in values):
        what = {"people": "user ids or names", "relation": "titles or page ids"}.get(
            prop.type, "URLs"
        )
        return None, f"{prop.name} is {prop.type}: give {what} (text), one or a list"
    if prop.type == "files":
        bad = [v for v in values if not v.startswith(("http://", "https://"))]
        if bad:
            return None, f"{prop.name} is files: {bad[0]!r} is not an http(s) URL"
    return [v.strip() for v in values], None


def _check_plain_text(prop: ObservedProperty, value: Any) -> tuple[Any, str | None]:
    if value is None or value == "":
        return None, None
    if not isinstance(value, str):
        return None, f"{prop.name} is {prop.type}: give text, not {_kind(value)}"
    if prop.type == "email" and "@" not in value:
        return None, f"{prop.name} is an email: {value!r} is not an e-mail address"
    return value, None


_CHECKS = {
    "title": _check_text,
    "rich_text": _check_text,
    "number": _check_number,
    "checkbox": _check_checkbox,
    "select": _check_options,
    "status": _check_options,
    "multi_select": _check_options,
    "date": _check_date,
    "people": _check_strings,
    "relation": _check_strings,
    "files": _check_strings,
    "url": _check_plain_text,
    "email": _check_plain_text,
    "phone_number": _check_plain_text,
}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _as_desired(db: ObservedDatabase) -> DesiredDatabase:
    """The schema in the deploy engine's desired shape, for its seed-row converter."""
    return DesiredDatabase(
        key=db.key,
        title=db.title,
        icon=None,
        description=None,
        inline=False,
        protect=False,
        properties={
            p.name: DesiredProperty(name=p.name, type=p.type, config=p.config)
            for p in db.properties.values()
        },
    )


def convert_values(db: ObservedDatabase, values: Mapping[str, Any]) -> Converted:
    """Check plain values against ``db``'s schema and convert them to Notion values.

    Every problem is reported (not only the first), each naming the property: unknown
    properties, computed ones, values of the wrong type, options the property lacks.
    """
    out = Converted()
    checked: Json = {}
    for name, value in values.items():
        prop = property_named(db, name)
        if prop is None:
            out.errors.append(unknown_property(db, name))
            continue
        if prop.type in READ_ONLY_TYPES:
            out.errors.append(f"{prop.name} is a {prop.type} property: Notion computes it")
            continue
        check = _CHECKS.get(prop.type)
        if check is None:
            out.errors.append(f"{prop.name} is a {prop.type} property: it cannot be set here")
            continue
        normal, error = check(prop, value)
        if error is not None:
            out.errors.append(error)
            continue
        if prop.type == "relation":
            # ids stay ids; titles become the deploy engine's row references
            normal = [normalise_id(v) or v for v in normal]
        checked[prop.name] = normal
    if out.errors:
        return out
    payload = row_payload(_as_desired(db), checked)
    for name, body in payload.items():
        prop = db.named(name)
        if prop is not None and prop.type == "relation":
            for item in body["relation"]:
                title = item["id"]["title"]
                if is_page_id(title):
                    item["id"] = title
        if prop is not None and prop.type == "people":
            for item in body["people"]:
                user = normalise_id(item["id"])
                item["id"] = user or ref("person", name=item["id"])
    out.properties = payload
    return out


# ---------------------------------------------------------------------------- references


def references(value: Any) -> list[Json]:
    """Every ``{"$ref": …}`` placeholder in a payload, once each, in order."""
    found: dict[str, Json] = {}

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            if "$ref" in item:
                found.setdefault(ref_key(item), item)
                return
            for inner in item.values():
                walk(inner)
        elif isinstance(item, list):
            for inner in item:
                walk(inner)

    walk(value)
    return list(found.values())


def substitute(value: Any, ids: Mapping[str, str]) -> Any:
    """A copy of a payload with each placeholder replaced by its id (keyed by
    :func:`ref_key`); placeholders without an id are left as they are."""
    if isinstance(value, dict):
        if "$ref" in value:
            return ids.get(ref_key(value), value)
        return {k: substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, ids) for v in value]
    return value


def ref_key(placeholder: Mapping[str, Any]) -> str:
    """The key a placeholder's resolved id is kept under (its canonical JSON)."""
    return json.dumps(placeholder, sort_keys=True)
