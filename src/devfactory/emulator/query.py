"""Data source queries: Notion's filter and sort grammar, compiled to Python predicates.

A filter is validated and compiled once per request into a function ``Page -> bool``; sorts
become a sequence of stable sorts. The semantics (documented in docs/emulator.md) are
defined over the values the API returns: text comparisons for ``contains``, ``starts_with``
and ``ends_with`` ignore case, ``equals`` does not; empty values sort last in both
directions; ties keep creation order; dates given as a day compare by day (UTC), dates with
a time compare as instants; timestamps have minute precision, as the API shows them.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from devfactory.emulator import validation as v
from devfactory.emulator.clock import to_datetime
from devfactory.emulator.compute import plain_value
from devfactory.emulator.context import Ctx
from devfactory.emulator.formula import DateRange, FormulaResult
from devfactory.emulator.model import DataSource, Page, User
from devfactory.emulator.schema import find_property
from devfactory.errors import NotionValidationError

__all__ = [
    "MAX_RESULTS",
    "Predicate",
    "Selector",
    "apply_sorts",
    "compile_filter",
    "compile_sorts",
    "matching_rows",
    "paginate",
    "query_window",
    "run_query",
]

Predicate = Callable[[Page], bool]
# Filters run set-at-a-time: a selector takes candidate rows and returns those that match,
# in order. Leaves on stored types scan with list comprehensions (no call per row).
Selector = Callable[[list[Page]], list[Page]]
MAX_RESULTS = 10_000
MAX_NESTING = 2
_TEXT_TYPES = ("title", "rich_text", "url", "email", "phone_number")
TEXT_CONDITIONS = (
    "equals",
    "does_not_equal",
    "contains",
    "does_not_contain",
    "starts_with",
    "ends_with",
    "is_empty",
    "is_not_empty",
)
NUMBER_CONDITIONS = (
    "equals",
    "does_not_equal",
    "greater_than",
    "less_than",
    "greater_than_or_equal_to",
    "less_than_or_equal_to",
    "is_empty",
    "is_not_empty",
)
DATE_CONDITIONS = (
    "equals",
    "before",
    "after",
    "on_or_before",
    "on_or_after",
    "this_week",
    "past_week",
    "past_month",
    "past_year",
    "next_week",
    "next_month",
    "next_year",
    "is_empty",
    "is_not_empty",
)
_RELATIVE = (
    "today",
    "tomorrow",
    "yesterday",
    "one_week_ago",
    "one_week_from_now",
    "one_month_ago",
    "one_month_from_now",
)
_FILTER_KEYS = {
    "title": "text",
    "rich_text": "text",
    "url": "text",
    "email": "text",
    "phone_number": "text",
    "number": "number",
    "unique_id": "number",
    "checkbox": "checkbox",
    "select": "select",
    "status": "select",
    "multi_select": "multi_select",
    "date": "date",
    "created_time": "date",
    "last_edited_time": "date",
    "people": "people",
    "created_by": "people",
    "last_edited_by": "people",
    "relation": "relation",
    "files": "files",
    "formula": "formula",
    "rollup": "rollup",
}
# Which filter keys a property type accepts (text types accept each other's keys).
_ACCEPTS: dict[str, tuple[str, ...]] = {t: (t,) for t in _FILTER_KEYS}
for _t in _TEXT_TYPES:
    _ACCEPTS[_t] = _TEXT_TYPES
_ACCEPTS["unique_id"] = ("unique_id", "number")


# ---------------------------------------------------------------------------- conditions


def _one_condition(raw: Any, path: str, allowed: Sequence[str]) -> tuple[str, Any]:
    cond = v.obj(raw, path)
    present = [k for k in cond if k in allowed]
    unknown = [k for k in cond if k not in allowed]
    if unknown:
        v.fail(f"{path}.{unknown[0]}", "should be not present", cond[unknown[0]])
    if len(present) != 1:
        listed = ", ".join(f"{path}.{k}" for k in allowed)
        raise NotionValidationError(
            f"body failed validation. Fix one: exactly one of {listed} should be defined."
        )
    name = present[0]
    return name, cond[name]


def _true_flag(value: Any, path: str) -> None:
    if value is not True:
        v.fail(path, "should be `true`", value)


def _text_test(name: str, arg: Any, path: str) -> Callable[[str], bool]:
    if name in ("is_empty", "is_not_empty"):
        _true_flag(arg, path)
        return (lambda s: s == "") if name == "is_empty" else (lambda s: s != "")
    needle = v.string(arg, path, max_length=2000)
    folded = needle.casefold()
    tests: dict[str, Callable[[str], bool]] = {
        "equals": lambda s: s == needle,
        "does_not_equal": lambda s: s != needle,
        "contains": lambda s: folded in s.casefold(),
        "does_not_contain": lambda s: folded not in s.casefold(),
        "starts_with": lambda s: s.casefold().startswith(folded),
        "ends_with": lambda s: s.casefold().endswith(folded),
    }
    return tests[name]


def _number_test(name: str, arg: Any, path: str) -> Callable[[Any], bool]:
    if name in ("is_empty", "is_not_empty"):
        _true_flag(arg, path)
        return (lambda x: x is None) if name == "is_empty" else (lambda x: x is not None)
    target = v.number(arg, path)
    tests: dict[str, Callable[[Any], bool]] = {
        "equals": lambda x: x is not None and x == target,
        "does_not_equal": lambda x: x is None or x != target,
        "greater_than": lambda x: x is not None and x > target,
        "less_than": lambda x: x is not None and x < target,
        "greater_than_or_equal_to": lambda x: x is not None and x >= target,
        "less_than_or_equal_to": lambda x: x is not None and x <= target,
    }
    return tests[name]


def _checkbox_test(name: str, arg: Any, path: str) -> Callable[[Any], bool]:
    target = v.boolean(arg, path)
    return (lambda x: bool(x) == target) if name == "equals" else (lambda x: bool(x) != target)


def _names(arg: Any, path: str) -> list[str]:
    if isinstance(arg, list):
        return [
            v.string(x, f"{path}[{i}]", max_length=2000) for i, x in enumerate(v.array(arg, path))
        ]
    return [v.string(arg, path, max_length=2000)]


def _select_test(name: str, arg: Any, path: str) -> Callable[[Any], bool]:
    if name in ("is_empty", "is_not_empty"):
        _true_flag(arg, path)
        return (lambda x: x is None) if name == "is_empty" else (lambda x: x is not None)
    wanted = set(_names(arg, path))
    return (lambda x: x in wanted) if name == "equals" else (lambda x: x not in wanted)


def _list_test(name: str, arg: Any, path: str, *, ids: bool, me: str) -> Callable[[Any], bool]:
    if name in ("is_empty", "is_not_empty"):
        _true_flag(arg, path)
        return (lambda xs: not xs) if name == "is_empty" else (lambda xs: bool(xs))
    if ids:
        raw = arg if isinstance(arg, list) else [arg]
        wanted = set()
        for i, item in enumerate(raw):
            ipath = f"{path}[{i}]" if isinstance(arg, list) else path
            if item == "me":
                wanted.add(me)
            else:
                wanted.add(v.id_value(item, ipath))
    else:
        wanted = set(_names(arg, path))
    if name == "contains":
        return lambda xs: bool(wanted.intersection(xs or ()))
    return lambda xs: not wanted.intersection(xs or ())


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    for candidate in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    return day


def _relative_day(word: str, today: date) -> date:
    return {
        "today": today,
        "tomorrow": today + timedelta(days=1),
        "yesterday": today - timedelta(days=1),
        "one_week_ago": today - timedelta(days=7),
        "one_week_from_now": today + timedelta(days=7),
        "one_month_ago": _add_months(today, -1),
        "one_month_from_now": _add_months(today, 1),
    }[word]


def _instant(moment: datetime | date) -> datetime:
    if isinstance(moment, datetime):
        return moment
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def _day(moment: datetime | date) -> date:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).date()
    return moment


def _date_test(name: str, arg: Any, path: str, now: datetime) -> Callable[[Any], bool]:
    today = now.date()
    if name in ("is_empty", "is_not_empty"):
        _true_flag(arg, path)
        return (lambda d: d is None) if name == "is_empty" else (lambda d: d is not None)
    if name in (
        "this_week",
        "past_week",
        "past_month",
        "past_year",
        "next_week",
        "next_month",
        "next_year",
    ):
        v.obj(arg, path)
        if name == "this_week":
            low, high = (
                today - timedelta(days=today.weekday()),
                today + timedelta(days=6 - today.weekday()),
            )
        elif name.startswith("past"):
            span = {"past_week": timedelta(days=7)}.get(name)
            low = today - span if span else _add_months(today, -1 if name == "past_month" else -12)
            high = today
        else:
            span = {"next_week": timedelta(days=7)}.get(name)
            low, high = (
                today,
                (today + span if span else _add_months(today, 1 if name == "next_month" else 12)),
            )
        return lambda d: d is not None and low <= _day(d.start) <= high
    text = v.string(arg, path)
    by_day: bool
    target_day: date | None = None
    target_instant: datetime | None = None
    if text in _RELATIVE:
        target_day, by_day = _relative_day(text, today), True
    elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            target_day, by_day = date.fromisoformat(text), True
        except ValueError:
            v.fail(path, "should be a valid ISO 8601 date string", text)
    else:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            v.fail(path, "should be a valid ISO 8601 date string or a relative date", text)
        target_instant, by_day = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)), False
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "equals": lambda a, b: a == b,
        "before": lambda a, b: a < b,
        "after": lambda a, b: a > b,
        "on_or_before": lambda a, b: a <= b,
        "on_or_after": lambda a, b: a >= b,
    }
    op = compare[name]
    if by_day:
        return lambda d: d is not None and op(_day(d.start), target_day)
    return lambda d: d is not None and op(_instant(d.start), target_instant)


# ---------------------------------------------------------------------------- selectors


def _scan(predicate: Predicate) -> Selector:
    """A selector testing each row with a predicate (the general case)."""
    return lambda pages: [p for p in pages if predicate(p)]


def _all_of(parts: list[Selector]) -> Selector:
    """``and``: each part narrows what the previous ones kept."""

    def select(pages: list[Page]) -> list[Page]:
        for part in parts:
            pages = part(pages)
        return pages

    return select


def _any_of(parts: list[Selector]) -> Selector:
    """``or``: rows any part keeps, in their original order."""

    def select(pages: list[Page]) -> list[Page]:
        kept: set[int] = set()
        for part in parts:
            kept.update(map(id, part(pages)))
        return [p for p in pages if id(p) in kept]

    return select


def _number_scan(pid: str, name: str, target: float) -> Selector:
    """Number comparisons as comprehensions; empty values never match but does_not_equal."""

    def select(pages: list[Page]) -> list[Page]:
        values = [p.properties.get(pid) for p in pages]
        if name == "does_not_equal":
            return [p for p, x in zip(pages, values, strict=True) if x is None or x != target]
        if name == "equals":
            return [p for p, x in zip(pages, values, strict=True) if x is not None and x == target]
        if name == "greater_than":
            return [p for p, x in zip(pages, values, strict=True) if x is not None and x > target]
        if name == "less_than":
            return [p for p, x in zip(pages, values, strict=True) if x is not None and x < target]
        if name == "greater_than_or_equal_to":
            return [p for p, x in zip(pages, values, strict=True) if x is not None and x >= target]
        return [p for p, x in zip(pages, values, strict=True) if x is not None and x <= target]

    return select


# ---------------------------------------------------------------------------- compile


class _Compiler:
    """Compiles one filter tree for one data source."""

    def __init__(self, ctx: Ctx, ds: DataSource) -> None:
        self.ctx = ctx
        self.ds = ds
        self.now = to_datetime(ctx.now or ctx.clock.now())

    def compile(self, raw: Any, path: str, depth: int) -> Selector:
        node = v.obj(raw, path)
        for key in ("and", "or"):
            if key in node:
                if len(node) != 1:
                    v.fail(path, f"should only contain `{key}`", node)
                if depth >= MAX_NESTING:
                    raise NotionValidationError(
                        f"body failed validation: {path}.{key} nests compound filters more than "
                        f"{MAX_NESTING} levels deep."
                    )
                parts = [
                    self.compile(item, f"{path}.{key}[{i}]", depth + 1)
                    for i, item in enumerate(v.array(node[key], f"{path}.{key}"))
                ]
                return _all_of(parts) if key == "and" else _any_of(parts)
        if "timestamp" in node:
            kind = v.choice(
                node["timestamp"], f"{path}.timestamp", ("created_time", "last_edited_time")
            )
            name, arg = _one_condition(
                v.member(node, kind, path), f"{path}.{kind}", DATE_CONDITIONS
            )
            test = _date_test(name, arg, f"{path}.{kind}.{name}", self.now)
            return _scan(self._timestamp_predicate(kind, test))
        if "property" not in node:
            raise NotionValidationError(
                f"body failed validation: {path} should be a property filter, a timestamp filter, or an `and` / `or` compound."
            )
        key = v.string(node["property"], f"{path}.property")
        prop = find_property(self.ds, key)
        if prop is None:
            raise NotionValidationError(f"Could not find property with name or id: {key}")
        filter_keys = [k for k in node if k in _FILTER_KEYS]
        if len(filter_keys) != 1:
            raise NotionValidationError(
                f"body failed validation: {path} should have exactly one condition key matching the type `{prop['type']}` of property {prop['name']}."
            )
        fkey = filter_keys[0]
        if fkey not in _ACCEPTS.get(prop["type"], ()):
            raise NotionValidationError(
                f"The filter type `{fkey}` does not match the type `{prop['type']}` of property `{prop['name']}`."
            )
        fast = self._fast_selector(prop, fkey, node[fkey], f"{path}.{fkey}")
        if fast is not None:
            return fast
        return _scan(self._property_predicate(prop, fkey, node[fkey], f"{path}.{fkey}"))

    def _fast_selector(
        self, prop: dict[str, Any], fkey: str, cond: Any, path: str
    ) -> Selector | None:
        """Comprehension scans for the stored types that dominate large queries."""
        ptype, pid = prop["type"], prop["id"]
        if ptype in ("select", "status") and fkey in ("select", "status"):
            name, arg = _one_condition(
                cond, path, ("equals", "does_not_equal", "is_empty", "is_not_empty")
            )
            by_name = {o["name"]: o["id"] for o in prop["config"].get("options", [])}
            if name in ("is_empty", "is_not_empty"):
                _true_flag(arg, f"{path}.{name}")
                ids = set(by_name.values())
                keep = name == "is_not_empty"
            else:
                ids = {by_name[n] for n in _names(arg, f"{path}.{name}") if n in by_name}
                keep = name == "equals"
            if keep:
                return lambda pages: [p for p in pages if p.properties.get(pid) in ids]
            return lambda pages: [p for p in pages if p.properties.get(pid) not in ids]
        if ptype == "number" and fkey == "number":
            name, arg = _one_condition(cond, path, NUMBER_CONDITIONS)
            if name in ("is_empty", "is_not_empty"):
                _true_flag(arg, f"{path}.{name}")
                if name == "is_empty":
                    return lambda pages: [p for p in pages if p.properties.get(pid) is None]
                return lambda pages: [p for p in pages if p.properties.get(pid) is not None]
            return _number_scan(pid, name, v.number(arg, f"{path}.{name}"))
        if ptype == "checkbox" and fkey == "checkbox":
            name, arg = _one_condition(cond, path, ("equals", "does_not_equal"))
            wanted = v.boolean(arg, f"{path}.{name}") == (name == "equals")
            if wanted:
                return lambda pages: [p for p in pages if p.properties.get(pid)]
            return lambda pages: [p for p in pages if not p.properties.get(pid)]
        return None

    def _timestamp_predicate(self, kind: str, test: Callable[[Any], bool]) -> Predicate:
        def predicate(page: Page) -> bool:
            ts = page.created_time if kind == "created_time" else page.last_edited_time
            return test(DateRange(to_datetime(ts).replace(second=0, microsecond=0)))

        return predicate

    def _condition(self, family: str, cond: Any, path: str) -> Callable[[Any], bool]:
        """A test on a plain value for one condition family."""
        me = self.ctx.user_id
        if family == "text":
            name, arg = _one_condition(cond, path, TEXT_CONDITIONS)
            text_test = _text_test(name, arg, f"{path}.{name}")
            return lambda x: text_test(x if isinstance(x, str) else ("" if x is None else str(x)))
        if family == "number":
            name, arg = _one_condition(cond, path, NUMBER_CONDITIONS)
            return _number_test(name, arg, f"{path}.{name}")
        if family == "checkbox":
            name, arg = _one_condition(cond, path, ("equals", "does_not_equal"))
            return _checkbox_test(name, arg, f"{path}.{name}")
        if family == "select":
            name, arg = _one_condition(
                cond, path, ("equals", "does_not_equal", "is_empty", "is_not_empty")
            )
            return _select_test(name, arg, f"{path}.{name}")
        if family == "multi_select":
            name, arg = _one_condition(
                cond, path, ("contains", "does_not_contain", "is_empty", "is_not_empty")
            )
            return _list_test(name, arg, f"{path}.{name}", ids=False, me=me)
        if family in ("people", "relation"):
            name, arg = _one_condition(
                cond, path, ("contains", "does_not_contain", "is_empty", "is_not_empty")
            )
            return _list_test(name, arg, f"{path}.{name}", ids=True, me=me)
        if family == "files":
            name, arg = _one_condition(cond, path, ("is_empty", "is_not_empty"))
            _true_flag(arg, f"{path}.{name}")
            return (lambda xs: not xs) if name == "is_empty" else (lambda xs: bool(xs))
        if family == "date":
            name, arg = _one_condition(cond, path, DATE_CONDITIONS)
            return _date_test(name, arg, f"{path}.{name}", self.now)
        raise NotionValidationError(f"body failed validation: {path} is not a supported condition.")

    def _property_predicate(
        self, prop: dict[str, Any], fkey: str, cond: Any, path: str
    ) -> Predicate:
        ctx, ds = self.ctx, self.ds
        family = _FILTER_KEYS[fkey]
        ptype = prop["type"]
        pid = prop["id"]
        if family == "formula":
            sub_name, sub = _one_condition(cond, path, ("string", "checkbox", "number", "date"))
            inner = self._condition(
                {"string": "text"}.get(sub_name, sub_name), sub, f"{path}.{sub_name}"
            )

            def formula_pred(page: Page) -> bool:
                result = plain_value(ctx, ds, page, prop)
                value = result.value if isinstance(result, FormulaResult) else None
                if sub_name == "string":
                    value = (
                        "" if value is None else (value if isinstance(value, str) else str(value))
                    )
                return inner(value)

            return formula_pred
        if family == "rollup":
            sub_name, sub = _one_condition(cond, path, ("any", "every", "none", "number", "date"))
            if sub_name in ("number", "date"):
                inner = self._condition(sub_name, sub, f"{path}.{sub_name}")
                return lambda page: inner(plain_value(ctx, ds, page, prop))
            element = v.obj(sub, f"{path}.{sub_name}")
            keys = [k for k in element if k in _FILTER_KEYS and k not in ("formula", "rollup")]
            if len(keys) != 1:
                raise NotionValidationError(
                    f"body failed validation: {path}.{sub_name} should hold one property-type condition."
                )
            elem_test = self._condition(
                _FILTER_KEYS[keys[0]], element[keys[0]], f"{path}.{sub_name}.{keys[0]}"
            )
            quantifier = sub_name

            def rollup_pred(page: Page) -> bool:
                value = plain_value(ctx, ds, page, prop)
                items = value if isinstance(value, list) else ([] if value is None else [value])
                if quantifier == "any":
                    return any(elem_test(x) for x in items)
                if quantifier == "every":
                    return all(elem_test(x) for x in items)
                return not any(elem_test(x) for x in items)

            return rollup_pred
        test = self._condition(family, cond, path)
        if ptype == "people":
            return lambda page: test(page.properties.get(pid))
        return lambda page: test(plain_value(ctx, ds, page, prop))


def compile_filter(
    ctx: Ctx, ds: DataSource, raw: Any, path: str = "body.filter"
) -> Selector | None:
    """Validate and compile a filter; None means "everything"."""
    if raw is None or raw == {}:
        return None
    return _Compiler(ctx, ds).compile(raw, path, 0)


# ---------------------------------------------------------------------------- sorts


Column = Callable[[list[Page]], list[Any]]


def _sort_column(ctx: Ctx, ds: DataSource, prop: dict[str, Any]) -> Column:
    """Sort keys of many rows at once; None marks an empty value (empties sort last)."""
    ptype = prop["type"]
    pid = prop["id"]
    if ptype in ("select", "status"):
        order = {o["id"]: i for i, o in enumerate(prop["config"].get("options", []))}
        return lambda pages: [order.get(p.properties.get(pid)) for p in pages]
    if ptype == "multi_select":
        order = {o["id"]: i for i, o in enumerate(prop["config"].get("options", []))}

        def multi(page: Page) -> Any:
            ids = page.properties.get(pid) or []
            ranks = sorted(order[i] for i in ids if i in order)
            return tuple(ranks) if ranks else None

        return lambda pages: [multi(p) for p in pages]
    if ptype in ("number", "unique_id"):
        return lambda pages: [p.properties.get(pid) for p in pages]
    if ptype == "checkbox":
        return lambda pages: [bool(p.properties.get(pid)) for p in pages]
    return lambda pages: [_comparable(ctx, plain_value(ctx, ds, p, prop)) for p in pages]


def _comparable(ctx: Ctx, value: Any) -> Any:
    if isinstance(value, FormulaResult):
        value = value.value
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        return (value.casefold(), value)
    if isinstance(value, DateRange):
        return _instant(value.start)
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return value
    if isinstance(value, list):
        first = value[0]
        user = ctx.store.get(first) if isinstance(first, str) else None
        label = user.name if isinstance(user, User) else str(first)
        return (label.casefold(), len(value))
    return str(value)


def compile_sorts(
    ctx: Ctx, ds: DataSource, raw: Any, path: str = "body.sorts"
) -> list[tuple[Column, bool]]:
    """Validate sorts; returns (key column, descending) pairs, most significant first."""
    if raw is None:
        return []
    result: list[tuple[Column, bool]] = []
    for i, item in enumerate(v.array(raw, path)):
        ipath = f"{path}[{i}]"
        sort = v.obj(item, ipath)
        direction = v.choice(
            sort.get("direction", "ascending"), f"{ipath}.direction", ("ascending", "descending")
        )
        if "timestamp" in sort:
            kind = v.choice(
                sort["timestamp"], f"{ipath}.timestamp", ("created_time", "last_edited_time")
            )
            if kind == "created_time":
                column: Column = lambda pages: [int(p.created_time // 60) for p in pages]  # noqa: E731
            else:
                column = lambda pages: [int(p.last_edited_time // 60) for p in pages]  # noqa: E731
        elif "property" in sort:
            name = v.string(sort["property"], f"{ipath}.property")
            prop = find_property(ds, name)
            if prop is None:
                raise NotionValidationError(f"Could not find sort property with name or id: {name}")
            column = _sort_column(ctx, ds, prop)
        else:
            v.fail(f"{ipath}.property", "should be defined", v.UNDEFINED)
        result.append((column, direction == "descending"))
    return result


def apply_sorts(
    pages: list[Page], sorts: list[tuple[Column, bool]], *, limit: int | None = None
) -> list[Page]:
    """Sort pages (given in creation order): empties last, ties keep their order.

    With one sort key and a ``limit``, only the first ``limit`` rows are ordered (a partial
    sort that gives the same rows as a full sort would).
    """
    if not sorts:
        return pages if limit is None else pages[:limit]
    order = list(range(len(pages)))
    if len(sorts) == 1:
        column, descending = sorts[0]
        values = column(pages)
        present = [i for i in order if values[i] is not None]
        missing = [i for i in order if values[i] is None]
        if limit is not None and limit < len(present) // 4:
            pick = heapq.nlargest if descending else heapq.nsmallest
            ranked = pick(limit, present, key=values.__getitem__)
        else:
            ranked = sorted(present, key=values.__getitem__, reverse=descending)
        order = ranked + missing
    else:
        for column, descending in reversed(sorts):
            values = column(pages)
            present = [i for i in order if values[i] is not None]
            missing = [i for i in order if values[i] is None]
            present.sort(key=values.__getitem__, reverse=descending)
            order = present + missing
    if limit is not None:
        order = order[:limit]
    return [pages[i] for i in order]


# ---------------------------------------------------------------------------- running


def paginate(
    items: Sequence[Any],
    start_cursor: str | None,
    page_size: int,
    id_of: Callable[[Any], str],
    *,
    cap: int | None = None,
) -> tuple[list[Any], str | None, bool, bool]:
    """Cut one page out of ``items``: (chunk, next_cursor, has_more, capped).

    Cursors are the id of the first item of the next page, as Notion's block cursors are.
    """
    start = 0
    if start_cursor is not None:
        for index, item in enumerate(items):
            if id_of(item) == start_cursor:
                start = index
                break
        else:
            raise NotionValidationError(
                f"body failed validation: start_cursor `{start_cursor}` is not a valid cursor."
            )
    limit = len(items) if cap is None else min(len(items), cap)
    end = min(start + page_size, limit)
    chunk = list(items[start:end])
    has_more = end < limit
    capped = cap is not None and len(items) > cap and end >= limit
    return chunk, (id_of(items[end]) if has_more else None), has_more, capped


def matching_rows(
    ctx: Ctx, ds: DataSource, body: dict[str, Any], *, trashed: bool = False
) -> list[Page]:
    """The rows of ``ds`` (in or out of the trash) that the body's filter keeps, unsorted."""
    selector = compile_filter(ctx, ds, body.get("filter"))
    candidates = [p for p in ctx.store.rows_of(ds.id).values() if p.in_trash == trashed]
    return candidates if selector is None else selector(candidates)


def run_query(
    ctx: Ctx, ds: DataSource, body: dict[str, Any], *, trashed: bool = False
) -> list[Page]:
    """All rows of ``ds`` matching the body's filter, in the body's sort order."""
    sorts = compile_sorts(ctx, ds, body.get("sorts"))
    return apply_sorts(matching_rows(ctx, ds, body, trashed=trashed), sorts)


def query_window(
    ctx: Ctx,
    ds: DataSource,
    body: dict[str, Any],
    *,
    start_cursor: str | None,
    page_size: int,
    trashed: bool = False,
) -> tuple[list[Page], str | None, bool, bool]:
    """One page of a query: (rows, next_cursor, has_more, capped at 10,000).

    Cursors say where the next page starts (``<row id>:<offset>``), so a page deep in a
    large result sorts only as far as it needs; if the rows changed since, the cursor's row
    is looked up again, and a cursor whose row is gone is refused.
    """
    sorts = compile_sorts(ctx, ds, body.get("sorts"))
    rows = matching_rows(ctx, ds, body, trashed=trashed)
    total = min(len(rows), MAX_RESULTS)
    start = 0
    ordered: list[Page] | None = None
    if start_cursor is not None:
        row_id, _, offset_text = start_cursor.partition(":")
        offset = int(offset_text) if offset_text.isdigit() else -1
        window = apply_sorts(rows, sorts, limit=offset + 1) if 0 <= offset < total else []
        if window and len(window) == offset + 1 and window[offset].id == row_id:
            start = offset
        else:
            ordered = apply_sorts(rows, sorts)[:total]
            start = next((i for i, p in enumerate(ordered) if p.id == row_id), -1)
            if start < 0:
                raise NotionValidationError(
                    f"body failed validation: body.start_cursor `{start_cursor}` is not a valid cursor."
                )
    end = min(start + page_size, total)
    if ordered is None:
        ordered = apply_sorts(rows, sorts, limit=min(end + 1, total))
    chunk = ordered[start:end]
    has_more = end < total
    next_cursor = f"{ordered[end].id}:{end}" if has_more else None
    capped = len(rows) > MAX_RESULTS and end >= total
    return chunk, next_cursor, has_more, capped
