"""Friendly query filters and sorts → Notion's filter and sort JSON, per property type.

An agent filters as it would say it: ``{"Status": "Active"}``, ``{"Budget": {">": 1000}}``,
``{"Services": ["Design", "Data"]}`` (any of), ``{"Due": {"before": "2026-12-01"}}``,
``{"Client": "Acme Corp"}`` (a relation by title), ``{"Notes": null}`` (empty). Several
properties must all hold; several operators on one property too. :func:`build_filter` turns
that into Notion's grammar using the schema (a select's ``equals``, a multi_select's
``contains``, a date's ``before``…), checks every name, operator and operand, and raises a
:class:`FilterError` that says where the filter is wrong. Related pages given by title and
people given by name become ``{"$ref": …}`` placeholders the server resolves
(see :mod:`devfactory.mcp.values`).

A filter with a top-level ``property``, ``timestamp``, ``and`` or ``or`` key is Notion's own
JSON and passes through, after its property names are checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from devfactory.deploy.desired import ref
from devfactory.deploy.observe import ObservedDatabase, ObservedProperty
from devfactory.mcp.values import (
    normalise_id,
    option_names,
    parse_date,
    property_named,
    unknown_property,
)

__all__ = ["OPERATORS", "FilterError", "build_filter", "build_sorts", "is_raw_filter"]

Json = dict[str, Any]

RAW_KEYS = frozenset(["property", "timestamp", "and", "or"])
OPERATORS: dict[str, str] = {
    **dict.fromkeys(["=", "==", "eq", "is", "equals"], "eq"),
    **dict.fromkeys(["!=", "<>", "ne", "not", "does_not_equal"], "ne"),
    **dict.fromkeys([">", "gt", "greater_than", "after"], "gt"),
    **dict.fromkeys([">=", "gte", "greater_than_or_equal_to", "on_or_after"], "ge"),
    **dict.fromkeys(["<", "lt", "less_than", "before"], "lt"),
    **dict.fromkeys(["<=", "lte", "less_than_or_equal_to", "on_or_before"], "le"),
    "contains": "contains",
    **dict.fromkeys(["not_contains", "does_not_contain"], "not_contains"),
    "starts_with": "starts_with",
    "ends_with": "ends_with",
    **dict.fromkeys(["is_empty", "empty"], "empty"),
    **dict.fromkeys(["is_not_empty", "not_empty"], "not_empty"),
    "in": "in",
    "not_in": "not_in",
    **{word: word for word in ("past_week", "past_month", "past_year", "this_week")},
    **{word: word for word in ("next_week", "next_month", "next_year")},
}
"""Friendly operator → the operation it means (Notion's own condition names work too)."""

RELATIVE_DATES = frozenset((
    "today", "tomorrow", "yesterday", "one_week_ago", "one_week_from_now", "one_month_ago",
    "one_month_from_now",
))  # fmt: skip
_TEXT = {
    "eq": "equals",
    "ne": "does_not_equal",
    "contains": "contains",
    "not_contains": "does_not_contain",
    "starts_with": "starts_with",
    "ends_with": "ends_with",
}
_NUMBER = {
    "eq": "equals",
    "ne": "does_not_equal",
    "gt": "greater_than",
    "ge": "greater_than_or_equal_to",
    "lt": "less_than",
    "le": "less_than_or_equal_to",
}
_DATE = {
    "eq": "equals",
    "gt": "after",
    "ge": "on_or_after",
    "lt": "before",
    "le": "on_or_before",
    **{w: w for w in ("past_week", "past_month", "past_year", "this_week")},
    **{w: w for w in ("next_week", "next_month", "next_year")},
}
_OPTION = {"eq": "equals", "ne": "does_not_equal"}
_CONTAINS = {"eq": "contains", "contains": "contains", "ne": "does_not_contain"}
_CONTAINS["not_contains"] = "does_not_contain"
_CHECKBOX = {"eq": "equals", "ne": "does_not_equal"}

# property type → (filter key, operations it takes → Notion condition, what an operand is)
_FAMILIES: dict[str, tuple[dict[str, str], str]] = {
    "title": (_TEXT, "text"),
    "rich_text": (_TEXT, "text"),
    "url": (_TEXT, "text"),
    "email": (_TEXT, "text"),
    "phone_number": (_TEXT, "text"),
    "number": (_NUMBER, "number"),
    "unique_id": (_NUMBER, "unique_id"),
    "checkbox": (_CHECKBOX, "checkbox"),
    "select": (_OPTION, "option"),
    "status": (_OPTION, "option"),
    "multi_select": (_CONTAINS, "option"),
    "date": (_DATE, "date"),
    "created_time": (_DATE, "date"),
    "last_edited_time": (_DATE, "date"),
    "people": (_CONTAINS, "person"),
    "created_by": (_CONTAINS, "person"),
    "last_edited_by": (_CONTAINS, "person"),
    "relation": (_CONTAINS, "page"),
    "files": ({}, "none"),
}
_NO_EMPTY = frozenset(["checkbox"])


class FilterError(ValueError):
    """A filter or sort that does not fit the schema; the message names the place."""


# ---------------------------------------------------------------------------- filters


def is_raw_filter(spec: Mapping[str, Any]) -> bool:
    """Whether a filter is Notion's own JSON (a ``property``/``timestamp``/``and``/``or``
    key at the top) rather than the friendly form."""
    return bool(RAW_KEYS & set(spec))


def build_filter(db: ObservedDatabase, spec: Mapping[str, Any]) -> Json:
    """Notion's filter for a friendly (or raw) filter on ``db``; raises :class:`FilterError`."""
    if not isinstance(spec, Mapping) or not spec:
        raise FilterError('filter: give an object, e.g. {"Status": "Active"}')
    if is_raw_filter(spec):
        _check_raw(db, spec, "filter")
        return dict(spec)
    conditions: list[Json] = []
    for name, condition in spec.items():
        prop = property_named(db, name)
        if prop is None:
            raise FilterError(f"filter: {unknown_property(db, name)}")
        conditions.extend(_conditions(prop, condition, f"filter.{prop.name}"))
    return conditions[0] if len(conditions) == 1 else {"and": conditions}


def _conditions(prop: ObservedProperty, condition: Any, path: str) -> list[Json]:
    """The Notion filters (to AND together) one friendly property condition means."""
    if isinstance(condition, Mapping):
        if not condition:
            raise FilterError(f"{path}: give at least one operator, e.g. {{'=': …}}")
        out: list[Json] = []
        for operator, operand in condition.items():
            operation = OPERATORS.get(str(operator).strip().lower())
            if operation is None:
                raise FilterError(
                    f"{path}: unknown operator {operator!r}; use one of {_operator_list(prop)}"
                )
            out.extend(_operation(prop, operation, operand, f"{path}.{operator}"))
        return out
    if isinstance(condition, list):
        return _operation(prop, "in", condition, path)
    if condition is None:
        return _operation(prop, "empty", True, path)
    return _operation(prop, "eq", condition, path)


def _operation(prop: ObservedProperty, operation: str, operand: Any, path: str) -> list[Json]:
    if operation in ("in", "not_in"):
        items = operand if isinstance(operand, list) else [operand]
        if not items:
            raise FilterError(f"{path}: give at least one value")
        single = "eq" if operation == "in" else "ne"
        parts = [_one(prop, single, item, path) for item in items]
        if len(parts) == 1 or operation == "not_in":
            return parts
        return [{"or": parts}]
    if operation in ("empty", "not_empty"):
        if not isinstance(operand, bool):
            raise FilterError(f"{path}: give true or false")
        if prop.type in _NO_EMPTY:
            raise FilterError(f"{path}: a checkbox is never empty; compare it with true or false")
        empty = operand == (operation == "empty")
        return [_wrap(prop, "is_empty" if empty else "is_not_empty", True, None)]
    if operand is None and operation == "eq":
        return _operation(prop, "empty", True, path)
    if operand is None and operation == "ne":
        return _operation(prop, "not_empty", True, path)
    return [_one(prop, operation, operand, path)]


def _one(prop: ObservedProperty, operation: str, operand: Any, path: str) -> Json:
    if prop.type == "formula":
        return _formula(prop, operation, operand, path)
    if prop.type == "rollup":
        return _rollup(prop, operation, operand, path)
    family = _FAMILIES.get(prop.type)
    if family is None:
        raise FilterError(f"{path}: {prop.type} properties cannot be filtered; use a raw filter")
    conditions, operand_kind = family
    condition = conditions.get(operation)
    if condition is None:
        raise FilterError(
            f"{path}: {prop.name} is {_a(prop.type)}, which does not take "
            f"{_operation_name(operation)}; use one of {_operator_list(prop)}"
        )
    value = _operand(prop, operand_kind, condition, operand, path)
    return _wrap(prop, condition, value, None)


def _wrap(prop: ObservedProperty, condition: str, value: Any, sub: str | None) -> Json:
    if prop.type in ("formula", "rollup"):
        default = "string" if prop.type == "formula" else "number"
        return {"property": prop.name, prop.type: {sub or default: {condition: value}}}
    return {"property": prop.name, prop.type: {condition: value}}


def _operand(prop: ObservedProperty, kind: str, condition: str, operand: Any, path: str) -> Any:
    if condition in _DATE.values() and condition.startswith(("past_", "next_", "this_")):
        return {}
    if kind == "text":
        if isinstance(operand, bool) or not isinstance(operand, str | int | float):
            raise FilterError(f"{path}: {prop.name} is {_a(prop.type)}; compare it with text")
        return str(operand)
    if kind in ("number", "unique_id"):
        return _number(prop, operand, path, allow_prefix=kind == "unique_id")
    if kind == "checkbox":
        if not isinstance(operand, bool):
            raise FilterError(f"{path}: {prop.name} is a checkbox; compare it with true or false")
        return operand
    if kind == "option":
        return _option(prop, operand, path)
    if kind == "date":
        return _date(prop, operand, path)
    if kind in ("person", "page"):
        if not isinstance(operand, str) or not operand.strip():
            what = "a user id or name" if kind == "person" else "a page id or title"
            raise FilterError(f"{path}: {prop.name} is {_a(prop.type)}; give {what}")
        page_id = normalise_id(operand)
        if page_id is not None or (kind == "person" and operand == "me"):
            return page_id or operand
        if kind == "person":
            return ref("person", name=operand.strip())
        return ref("row", db=str(prop.config.get("to", "")), title=operand.strip())
    raise FilterError(f"{path}: {prop.type} properties can only be tested for emptiness")


def _number(prop: ObservedProperty, operand: Any, path: str, *, allow_prefix: bool) -> int | float:
    if allow_prefix and isinstance(operand, str):
        prefix = str(prop.config.get("prefix") or "")
        text = operand.removeprefix(f"{prefix}-") if prefix else operand
        if text.isdigit():
            return int(text)
    if isinstance(operand, bool) or not isinstance(operand, int | float):
        raise FilterError(f"{path}: {prop.name} is {_a(prop.type)}; compare it with a number")
    number: int | float = operand
    return number


def _option(prop: ObservedProperty, operand: Any, path: str) -> str:
    names = option_names(prop) or []
    if not isinstance(operand, str):
        raise FilterError(f"{path}: {prop.name} is {_a(prop.type)}; compare it with option names")
    if names and operand not in names:
        raise FilterError(
            f"{path}: {operand!r} is not an option of {prop.name} ({', '.join(names)})"
        )
    return operand


def _date(prop: ObservedProperty, operand: Any, path: str) -> str:
    if isinstance(operand, str) and (operand in RELATIVE_DATES or parse_date(operand)):
        return operand
    raise FilterError(
        f"{path}: {prop.name} is {_a(prop.type)}; give an ISO date (2026-12-01) or one of "
        + ", ".join(sorted(RELATIVE_DATES))
    )


def _formula(prop: ObservedProperty, operation: str, operand: Any, path: str) -> Json:
    """A formula's result type is not in the schema: the operand says which it is."""
    value: Any
    if isinstance(operand, bool):
        sub, conditions, value = "checkbox", _CHECKBOX, operand
    elif isinstance(operand, int | float):
        sub, conditions, value = "number", _NUMBER, operand
    elif isinstance(operand, str) and operation in ("gt", "ge", "lt", "le"):
        sub, conditions, value = "date", _DATE, _date(prop, operand, path)
    elif isinstance(operand, str):
        sub, conditions, value = "string", _TEXT, operand
    else:
        raise FilterError(f"{path}: compare the formula {prop.name} with text, a number or a date")
    condition = conditions.get(operation)
    if condition is None:
        raise FilterError(f"{path}: a {sub} formula does not take {_operation_name(operation)}")
    return _wrap(prop, condition, value, sub)


def _rollup(prop: ObservedProperty, operation: str, operand: Any, path: str) -> Json:
    if isinstance(operand, int | float) and not isinstance(operand, bool):
        sub, conditions = "number", _NUMBER
    elif isinstance(operand, str) and (operand in RELATIVE_DATES or parse_date(operand)):
        sub, conditions = "date", _DATE
    else:
        raise FilterError(
            f"{path}: compare the rollup {prop.name} with a number or a date; "
            'for other rollups use a raw filter ({"property": …, "rollup": {"any": …}})'
        )
    condition = conditions.get(operation)
    if condition is None:
        raise FilterError(f"{path}: a {sub} rollup does not take {_operation_name(operation)}")
    return _wrap(prop, condition, operand, sub)


def _check_raw(db: ObservedDatabase, spec: Any, path: str, depth: int = 0) -> None:
    """Check a raw filter's shape and property names, so mistakes name their place."""
    if not isinstance(spec, Mapping):
        raise FilterError(f"{path}: a filter is an object")
    for compound in ("and", "or"):
        if compound in spec:
            items = spec[compound]
            if not isinstance(items, list):
                raise FilterError(f"{path}.{compound}: give a list of filters")
            if depth >= 2:
                raise FilterError(
                    f"{path}.{compound}: Notion nests compound filters 2 deep at most"
                )
            for index, item in enumerate(items):
                _check_raw(db, item, f"{path}.{compound}[{index}]", depth + 1)
            return
    if "timestamp" in spec:
        return
    if "property" not in spec:
        raise FilterError(f'{path}: give "property", "timestamp", "and" or "or"')
    name = str(spec["property"])
    known = {p.name for p in db.properties.values()} | set(db.properties)
    if name not in known:
        raise FilterError(f"{path}.property: {unknown_property(db, name)}")


# ---------------------------------------------------------------------------- sorts

_DIRECTIONS = {
    **dict.fromkeys(["asc", "ascending", "up"], "ascending"),
    **dict.fromkeys(["desc", "descending", "down"], "descending"),
}
_TIMESTAMPS = ("created_time", "last_edited_time")


def build_sorts(db: ObservedDatabase, sorts: Any) -> list[Json]:
    """Notion sorts for ``"Budget"``, ``"-Budget"``, ``"Budget desc"``, ``{"Budget": "desc"}``
    or Notion's own ``{"property", "direction"}`` / ``{"timestamp", "direction"}`` objects."""
    if isinstance(sorts, str | Mapping):
        sorts = [sorts]
    if not isinstance(sorts, Sequence):
        raise FilterError('sorts: give a list, e.g. ["-Budget", "Name"]')
    out: list[Json] = []
    for index, item in enumerate(sorts):
        path = f"sorts[{index}]"
        if isinstance(item, str):
            out.append(_sort_text(db, item, path))
        elif isinstance(item, Mapping) and ("property" in item or "timestamp" in item):
            out.append(_sort_object(db, item, path))
        elif isinstance(item, Mapping) and item:
            out.extend(_sort_text(db, f"{k} {v}", path) for k, v in item.items())
        else:
            raise FilterError(f'{path}: give a property name ("-Budget" for descending)')
    return out


def _sort_text(db: ObservedDatabase, text: str, path: str) -> Json:
    text = text.strip()
    direction = "ascending"
    if text.startswith("-"):
        text, direction = text[1:].strip(), "descending"
    elif text.startswith("+"):
        text = text[1:].strip()
    head, _, tail = text.rpartition(" ")
    if head and tail.lower() in _DIRECTIONS:
        text, direction = head.strip(), _DIRECTIONS[tail.lower()]
    prop = property_named(db, text)
    if prop is None and text in _TIMESTAMPS:
        return {"timestamp": text, "direction": direction}
    if prop is None:
        raise FilterError(f"{path}: {unknown_property(db, text)}")
    return {"property": prop.name, "direction": direction}


def _sort_object(db: ObservedDatabase, item: Mapping[str, Any], path: str) -> Json:
    direction = _DIRECTIONS.get(str(item.get("direction", "ascending")).lower())
    if direction is None:
        raise FilterError(f"{path}.direction: give ascending or descending")
    if "timestamp" in item:
        if item["timestamp"] not in _TIMESTAMPS:
            raise FilterError(f"{path}.timestamp: give created_time or last_edited_time")
        return {"timestamp": item["timestamp"], "direction": direction}
    prop = property_named(db, str(item["property"]))
    if prop is None:
        raise FilterError(f"{path}.property: {unknown_property(db, str(item['property']))}")
    return {"property": prop.name, "direction": direction}


# ---------------------------------------------------------------------------- messages


def _a(kind: str) -> str:
    article = "an" if kind[0] in "aeiou" else "a"
    return f"{article} {kind}"


_SYMBOLS = {
    "eq": "=",
    "ne": "!=",
    "gt": ">",
    "ge": ">=",
    "lt": "<",
    "le": "<=",
    "empty": "is_empty",
    "not_empty": "is_not_empty",
}


def _operation_name(operation: str) -> str:
    return repr(_SYMBOLS.get(operation, operation))


def _operator_list(prop: ObservedProperty) -> str:
    if prop.type == "formula":
        operations = ["eq", "ne", "gt", "ge", "lt", "le", "contains", "starts_with", "ends_with"]
    elif prop.type == "rollup":
        operations = ["eq", "ne", "gt", "ge", "lt", "le"]
    else:
        operations = list(_FAMILIES.get(prop.type, ({}, ""))[0])
    if prop.type not in ("rollup", "formula", "files"):
        operations += ["in", "not_in"]
    if prop.type not in _NO_EMPTY:
        operations.append("empty")
    return ", ".join(_SYMBOLS.get(o, o) for o in operations)
