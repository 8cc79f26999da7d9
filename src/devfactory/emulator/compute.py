"""Values computed on read: formulas, rollups, timestamps and authors, and the plain Python
value of any property for filters and sorts.

Everything here reads pages and schemas and writes nothing. Results are memoised per request
in ``Ctx.memo``, because a query over many rows often evaluates the same related pages.
"""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from devfactory.emulator.clock import iso_minute, to_datetime, wall_ms
from devfactory.emulator.context import Ctx
from devfactory.emulator.formula import DateRange, FormulaResult, compile_formula
from devfactory.emulator.model import DataSource, Page, User
from devfactory.emulator.richtext import plain_text
from devfactory.emulator.values import live_relations, option_by_id, render_stored, user_json
from devfactory.errors import FormulaError

__all__ = [
    "date_range_of",
    "formula_result",
    "kind_of",
    "plain_value",
    "render_value",
    "rollup_json",
]

NUMBER_FUNCTIONS = frozenset(
    [
        "count",
        "count_values",
        "empty",
        "not_empty",
        "unique",
        "percent_empty",
        "percent_not_empty",
        "sum",
        "average",
        "median",
        "min",
        "max",
        "range",
        "checked",
        "unchecked",
        "percent_checked",
        "percent_unchecked",
    ]
)
DATE_FUNCTIONS = frozenset(["earliest_date", "latest_date", "date_range"])
ARRAY_FUNCTIONS = frozenset(["show_original", "show_unique"])
_TEXT_KINDS = frozenset(
    [
        "title",
        "rich_text",
        "url",
        "email",
        "phone_number",
        "select",
        "status",
        "created_by",
        "last_edited_by",
    ]
)
_LIST_KINDS = frozenset(["multi_select", "people", "relation", "files"])


# ---------------------------------------------------------------------------- dates


def date_range_of(value: dict[str, Any] | None) -> DateRange | None:
    """A stored date value as a :class:`DateRange` (naive times read in their time zone)."""
    if not value or not value.get("start"):
        return None
    tz = value.get("time_zone")
    return DateRange(
        _parse_moment(value["start"], tz),
        _parse_moment(value["end"], tz) if value.get("end") else None,
    )


def _parse_moment(text: str, tz: str | None) -> datetime | date:
    if len(text) == 10:
        return date.fromisoformat(text)
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        try:
            zone: Any = ZoneInfo(tz) if tz else UTC
        except (ZoneInfoNotFoundError, ValueError):
            zone = UTC
        dt = dt.replace(tzinfo=zone)
    return dt.astimezone(UTC)


def _moment_iso(moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        return wall_ms(moment.astimezone(UTC)) + "+00:00"
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"


def _minute(ts: float) -> datetime:
    """A page timestamp as the API shows it (to the minute), for filters and formulas."""
    return to_datetime(ts).replace(second=0, microsecond=0)


# ---------------------------------------------------------------------------- kinds


def kind_of(
    ctx: Ctx, ds: DataSource, prop: dict[str, Any], seen: frozenset[str] = frozenset()
) -> str:
    """The formula input kind of a property (``string``, ``number``, ``boolean``, ``date``, ``list``)."""
    ptype = prop["type"]
    if ptype in _TEXT_KINDS:
        return "string"
    if ptype in ("number", "unique_id"):
        return "number"
    if ptype == "checkbox":
        return "boolean"
    if ptype in ("date", "created_time", "last_edited_time"):
        return "date"
    if ptype in _LIST_KINDS:
        return "list"
    if ptype == "formula":
        if prop["name"] in seen:
            raise FormulaError(f'Formulas refer to each other in a cycle through "{prop["name"]}".')
        formula = compile_formula(prop["config"]["expression"])
        kinds = {
            p["name"]: kind_of(ctx, ds, p, seen | {prop["name"]})
            for p in ds.properties.values()
            if p["name"] in formula.references
        }
        return formula.result_type(kinds)  # type: ignore[arg-type]
    if ptype == "rollup":
        function = prop["config"]["function"]
        if function in NUMBER_FUNCTIONS:
            return "number"
        if function in DATE_FUNCTIONS:
            return "date"
        return "list"
    return "string"


# ---------------------------------------------------------------------------- formulas


def _formula_input(ctx: Ctx, ds: DataSource, page: Page, prop: dict[str, Any], depth: int) -> Any:
    ptype = prop["type"]
    stored = page.properties.get(prop["id"])
    if ptype in ("title", "rich_text"):
        return plain_text(stored)
    if ptype in ("number", "unique_id"):
        return stored
    if ptype in ("select", "status"):
        option = option_by_id(prop, stored)
        return option["name"] if option else ""
    if ptype == "multi_select":
        return [o["name"] for o in (option_by_id(prop, i) for i in stored or []) if o]
    if ptype == "checkbox":
        return bool(stored)
    if ptype in ("url", "email", "phone_number"):
        return stored or ""
    if ptype == "date":
        return date_range_of(stored)
    if ptype == "created_time":
        return DateRange(_minute(page.created_time))
    if ptype == "last_edited_time":
        return DateRange(_minute(page.last_edited_time))
    if ptype in ("created_by", "last_edited_by"):
        user = ctx.store.get(page.created_by if ptype == "created_by" else page.last_edited_by)
        return user.name if isinstance(user, User) else ""
    if ptype == "people":
        return [u.name for u in (ctx.store.get(uid) for uid in stored or []) if isinstance(u, User)]
    if ptype == "relation":
        return [plain_text(p.properties.get("title")) for p in _pages(ctx, stored or [])]
    if ptype == "files":
        return [str(f.get("name", "")) for f in stored or []]
    if ptype == "formula":
        result = formula_result(ctx, ds, page, prop, depth + 1)
        return result.value
    if ptype == "rollup":
        return _rollup_plain(ctx, ds, page, prop)
    return None


def formula_result(
    ctx: Ctx, ds: DataSource, page: Page, prop: dict[str, Any], depth: int = 0
) -> FormulaResult:
    """Evaluate a formula property for one page (empty result on any data problem)."""
    key = ("formula", page.id, prop["id"])
    cached = ctx.memo.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    try:
        if depth > 16:
            raise FormulaError("formulas nest too deeply")
        formula = compile_formula(prop["config"]["expression"])
        by_name = {p["name"]: p for p in ds.properties.values()}
        kinds = {
            name: kind_of(ctx, ds, by_name[name], frozenset([prop["name"]]))
            for name in formula.references
            if name in by_name
        }

        def resolve(name: str) -> Any:
            target = by_name.get(name)
            return None if target is None else _formula_input(ctx, ds, page, target, depth)

        result = formula.evaluate(resolve, kinds, now=to_datetime(ctx.now or ctx.clock.now()))  # type: ignore[arg-type]
    except FormulaError:
        result = FormulaResult("string", None)
    ctx.memo[key] = result
    return result


def _formula_json(result: FormulaResult) -> dict[str, Any]:
    value = result.value
    if result.type == "date":
        if isinstance(value, DateRange):
            return {
                "type": "date",
                "date": {
                    "start": _moment_iso(value.start),
                    "end": _moment_iso(value.end) if value.end else None,
                    "time_zone": None,
                },
            }
        return {"type": "date", "date": None}
    if (
        result.type == "number"
        and isinstance(value, float)
        and value.is_integer()
        and abs(value) < 2**53
    ):
        value = int(value)
    return {"type": result.type, result.type: value}


# ---------------------------------------------------------------------------- rollups


def _pages(ctx: Ctx, ids: list[str]) -> list[Page]:
    pages = []
    for page_id in ids:
        page = ctx.store.get(page_id)
        if isinstance(page, Page) and not page.in_trash:
            pages.append(page)
    return pages


def _rollup_inputs(
    ctx: Ctx, ds: DataSource, page: Page, prop: dict[str, Any]
) -> tuple[list[Page], DataSource | None, dict[str, Any] | None]:
    config = prop["config"]
    relation = ds.properties.get(config["relation_property_id"])
    if relation is None or relation["type"] != "relation":
        return [], None, None
    target = ctx.store.get(relation["config"]["data_source_id"])
    if not isinstance(target, DataSource):
        return [], None, None
    rolled = target.properties.get(config["rollup_property_id"])
    return _pages(ctx, page.properties.get(relation["id"]) or []), target, rolled


def _is_empty(value: Any) -> bool:
    return (
        value is None
        or value == ""
        or value == []
        or (isinstance(value, FormulaResult) and value.value in (None, ""))
    )


def _flatten(values: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for value in values:
        if isinstance(value, list):
            flat.extend(value)
        elif not _is_empty(value):
            flat.append(value)
    return flat


def _hashable(value: Any) -> Any:
    if isinstance(value, dict | list):
        import orjson

        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return value


def _rollup_compute(ctx: Ctx, ds: DataSource, page: Page, prop: dict[str, Any]) -> tuple[str, Any]:
    """(kind, value) of a rollup: ("number", n) | ("date", (start, end)) | ("array", [json]) | ("unsupported", None)."""
    key = ("rollup", page.id, prop["id"])
    if key in ctx.memo:
        return ctx.memo[key]  # type: ignore[no-any-return]
    function = prop["config"]["function"]
    related, target, rolled = _rollup_inputs(ctx, ds, page, prop)
    result: tuple[str, Any]
    if function in ("count_per_group", "percent_per_group"):
        result = ("unsupported", None)
    elif target is None or rolled is None:
        result = ("number", 0) if function in NUMBER_FUNCTIONS else ("array", [])
    elif function in ARRAY_FUNCTIONS:
        items = [render_value(ctx, target, p, rolled, bare=True) for p in related]
        if function == "show_unique":
            unique: dict[Any, dict[str, Any]] = {}
            for item in items:
                value = item.get(item["type"])
                if value not in (None, "", []):
                    unique.setdefault(_hashable(value), item)
            items = list(unique.values())
        result = ("array", items)
    else:
        values = [_unwrapped(plain_value(ctx, target, p, rolled)) for p in related]
        result = _aggregate(function, values, len(related))
    ctx.memo[key] = result
    return result


def _unwrapped(value: Any) -> Any:
    """A formula's result as the plain value it holds, so rollups sum, count and check it."""
    return value.value if isinstance(value, FormulaResult) else value


def _aggregate(function: str, values: list[Any], count: int) -> tuple[str, Any]:
    flat = _flatten(values)
    numbers = [float(x) for x in flat if isinstance(x, int | float) and not isinstance(x, bool)]
    empties = sum(1 for x in values if _is_empty(x))
    if function == "count":
        return "number", count
    if function == "count_values":
        return "number", len(flat)
    if function == "empty":
        return "number", empties
    if function == "not_empty":
        return "number", count - empties
    if function == "unique":
        return "number", len({_hashable(x) for x in flat})
    if function == "percent_empty":
        return "number", (empties / count) if count else 0
    if function == "percent_not_empty":
        return "number", ((count - empties) / count) if count else 0
    checks = [x for x in values if isinstance(x, bool)]
    if function == "checked":
        return "number", sum(1 for x in checks if x)
    if function == "unchecked":
        return "number", sum(1 for x in checks if not x)
    if function == "percent_checked":
        return "number", (sum(1 for x in checks if x) / len(checks)) if checks else 0
    if function == "percent_unchecked":
        return "number", (sum(1 for x in checks if not x) / len(checks)) if checks else 0
    if function in ("sum", "average", "median", "min", "max", "range"):
        if function == "sum":
            return "number", _tidy(sum(numbers))
        if not numbers:
            return "number", None
        if function == "average":
            return "number", _tidy(statistics.fmean(numbers))
        if function == "median":
            return "number", _tidy(statistics.median(numbers))
        if function == "min":
            return "number", _tidy(min(numbers))
        if function == "max":
            return "number", _tidy(max(numbers))
        return "number", _tidy(max(numbers) - min(numbers))
    dates = [x for x in flat if isinstance(x, DateRange)]
    if not dates:
        return "date", None
    starts = sorted((_as_instant(d.start), d.start) for d in dates)
    ends = sorted((_as_instant(d.end or d.start), d.end or d.start) for d in dates)
    if function == "earliest_date":
        return "date", (starts[0][1], None)
    if function == "latest_date":
        return "date", (ends[-1][1], None)
    return "date", (starts[0][1], ends[-1][1])


def _as_instant(moment: datetime | date) -> datetime:
    if isinstance(moment, datetime):
        return moment
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def _tidy(number: float) -> int | float:
    return int(number) if float(number).is_integer() else number


def rollup_json(ctx: Ctx, ds: DataSource, page: Page, prop: dict[str, Any]) -> dict[str, Any]:
    """A rollup value in response form."""
    kind, value = _rollup_compute(ctx, ds, page, prop)
    function = prop["config"]["function"]
    if kind == "number":
        return {"type": "number", "number": value, "function": function}
    if kind == "date":
        body = (
            None
            if value is None
            else {
                "start": _moment_iso(value[0]),
                "end": _moment_iso(value[1]) if value[1] is not None else None,
                "time_zone": None,
            }
        )
        return {"type": "date", "date": body, "function": function}
    if kind == "array":
        return {"type": "array", "array": value, "function": function}
    return {"type": "unsupported", "unsupported": {}, "function": function}


def _rollup_plain(ctx: Ctx, ds: DataSource, page: Page, prop: dict[str, Any]) -> Any:
    kind, value = _rollup_compute(ctx, ds, page, prop)
    if kind == "number":
        return value
    if kind == "date":
        return None if value is None else DateRange(value[0], value[1])
    if kind == "array":
        return [_element_plain(item) for item in value]
    return None


def _element_plain(item: dict[str, Any]) -> Any:
    """Plain value of one element of a rollup array (for rollup any/every/none filters)."""
    kind = item["type"]
    body = item.get(kind)
    if kind in ("title", "rich_text"):
        return plain_text(body)
    if kind in ("select", "status"):
        return body["name"] if body else None
    if kind == "multi_select":
        return [o["name"] for o in body or []]
    if kind in ("people", "relation"):
        return [x["id"] for x in body or []]
    if kind == "date":
        return date_range_of(body)
    if kind == "formula":
        return body.get(body["type"]) if body else None
    if kind == "unique_id":
        return body.get("number") if body else None
    return body


# ---------------------------------------------------------------------------- values


def render_value(
    ctx: Ctx, ds: DataSource | None, page: Page, prop: dict[str, Any], *, bare: bool = False
) -> dict[str, Any]:
    """A page property value in response form: ``{"id", "type", <type>: …}``.

    ``bare`` leaves out the id (rollup arrays hold values without ids).
    """
    ptype = prop["type"]
    out: dict[str, Any] = {"type": ptype} if bare else {"id": prop["id"], "type": ptype}
    if ptype == "formula":
        assert ds is not None
        out["formula"] = _formula_json(formula_result(ctx, ds, page, prop))
    elif ptype == "rollup":
        assert ds is not None
        out["rollup"] = rollup_json(ctx, ds, page, prop)
    elif ptype == "created_time":
        out["created_time"] = iso_minute(page.created_time)
    elif ptype == "last_edited_time":
        out["last_edited_time"] = iso_minute(page.last_edited_time)
    elif ptype == "created_by":
        out["created_by"] = user_json(ctx, page.created_by)
    elif ptype == "last_edited_by":
        out["last_edited_by"] = user_json(ctx, page.last_edited_by)
    else:
        out[ptype] = render_stored(ctx, prop, page.properties.get(prop["id"]))
        if ptype == "relation":
            out["has_more"] = False
    return out


def plain_value(ctx: Ctx, ds: DataSource, page: Page, prop: dict[str, Any]) -> Any:
    """The plain Python value of a property for filters, sorts and rollups.

    Text kinds give ``str`` ("" when empty); number kinds ``int | float | None``; select and
    status the option name or None; multi_select, people, relation and files lists (names,
    ids, ids, names); dates :class:`DateRange` or None; formulas their
    :class:`FormulaResult`; rollups a number, a DateRange or a list.
    """
    ptype = prop["type"]
    stored = page.properties.get(prop["id"])
    if ptype in ("title", "rich_text"):
        return plain_text(stored)
    if ptype in ("number", "unique_id", "checkbox", "url", "email", "phone_number"):
        if ptype == "checkbox":
            return bool(stored)
        if ptype in ("url", "email", "phone_number"):
            return stored or ""
        return stored
    if ptype in ("select", "status"):
        option = option_by_id(prop, stored)
        return option["name"] if option else None
    if ptype == "multi_select":
        return [o["name"] for o in (option_by_id(prop, i) for i in stored or []) if o]
    if ptype == "people":
        return list(stored or [])
    if ptype == "relation":
        return live_relations(ctx, stored)
    if ptype == "files":
        return [str(f.get("name", "")) for f in stored or []]
    if ptype == "date":
        return date_range_of(stored)
    if ptype == "created_time":
        return DateRange(_minute(page.created_time))
    if ptype == "last_edited_time":
        return DateRange(_minute(page.last_edited_time))
    if ptype == "created_by":
        return [page.created_by]
    if ptype == "last_edited_by":
        return [page.last_edited_by]
    if ptype == "formula":
        return formula_result(ctx, ds, page, prop)
    if ptype == "rollup":
        return _rollup_plain(ctx, ds, page, prop)
    return None
