"""What rollups and two-way relations should show, worked out from the rows themselves: a
pure model to hold Notion's answers against.

For each row, the related pages come from the row's relation value and their values from
those pages as read; :func:`expected` aggregates them the way Notion documents each rollup
function. It is deliberately written from the documentation, not from the local server's
code, so a wrong rollup in either shows as a difference. Functions not modelled here
(``show_original``, ``median``, ``unique``, the per-group ones) are reported as not checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devfactory.deploy.desired import DesiredWorkspace
from devfactory.deploy.observe import row_title

__all__ = [
    "MODELLED",
    "RollupCheck",
    "actual",
    "expected",
    "input_value",
    "relation_mismatches",
    "rollup_mismatches",
]

Json = dict[str, Any]
MODELLED = frozenset(
    [
        "count",
        "count_values",
        "empty",
        "not_empty",
        "percent_empty",
        "percent_not_empty",
        "sum",
        "average",
        "min",
        "max",
        "checked",
        "unchecked",
        "percent_checked",
        "percent_unchecked",
        "earliest_date",
        "latest_date",
    ]
)
_TOLERANCE = 1e-9


def _text(items: Sequence[Json]) -> str:
    return "".join(str(i.get("plain_text") or i.get("text", {}).get("content", "")) for i in items)


def input_value(value: Json | None) -> Any:
    """The plain value a rollup reads from one related page's property value.

    Numbers, booleans, ``{"start", "end"}`` dates, text, option names, or lists (multi-select,
    people, relations); None when empty.
    """
    if not value:
        return None
    kind = value.get("type")
    inner = value.get(kind) if isinstance(kind, str) else None
    if kind in ("title", "rich_text"):
        return _text(inner or []) or None
    if kind in ("select", "status"):
        return inner.get("name") if isinstance(inner, dict) else None
    if kind in ("multi_select", "people", "relation", "files"):
        return list(inner or []) or None
    if kind in ("formula", "rollup") and isinstance(inner, dict):
        return input_value(inner)
    if kind == "string":
        return inner or None
    if kind == "boolean":
        return bool(inner)
    return inner


def actual(value: Json | None) -> Any:
    """A rollup's answer as a comparable value: a number, a date's start, or None."""
    rollup = (value or {}).get("rollup") or {}
    kind = rollup.get("type")
    if kind == "number":
        return rollup.get("number")
    if kind == "date":
        date = rollup.get("date")
        return date.get("start") if isinstance(date, dict) else None
    return rollup.get(kind) if isinstance(kind, str) else None


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def expected(function: str, values: Sequence[Any]) -> Any:
    """What a rollup with ``function`` shows over the related pages' ``values``.

    ``count`` counts related pages; ``empty`` and ``not_empty`` (and their percentages, as
    fractions) count pages whose value is or is not empty; ``count_values`` the non-empty
    values (list items one by one); the number functions read numbers only; the ``checked`` family checkboxes; dates
    compare as instants (a day is midnight UTC). A function outside :data:`MODELLED` raises
    :class:`KeyError`.
    """
    if function not in MODELLED:
        raise KeyError(function)
    if function == "count":
        return len(values)
    empties = sum(1 for v in values if v is None or v in ("", []))
    if function in ("empty", "not_empty"):
        return empties if function == "empty" else len(values) - empties
    if function in ("percent_empty", "percent_not_empty"):
        if not values:
            return 0
        share = empties / len(values)
        return share if function == "percent_empty" else 1 - share
    flat: list[Any] = []
    for value in values:
        if isinstance(value, list):
            flat.extend(value)
        elif value is not None and value != "":
            flat.append(value)
    if function == "count_values":
        return len(flat)
    numbers = [float(v) for v in flat if isinstance(v, int | float) and not isinstance(v, bool)]
    if function == "sum":
        return sum(numbers)
    if function in ("average", "min", "max"):
        if not numbers:
            return None
        return {"average": sum(numbers) / len(numbers), "min": min(numbers), "max": max(numbers)}[
            function
        ]
    checks = [v for v in values if isinstance(v, bool)]
    ticked = sum(1 for v in checks if v)
    if function in ("checked", "unchecked"):
        return ticked if function == "checked" else len(checks) - ticked
    if function in ("percent_checked", "percent_unchecked"):
        if not checks:
            return 0
        share = ticked / len(checks)
        return share if function == "percent_checked" else 1 - share
    dates = [v for v in flat if isinstance(v, dict) and v.get("start")]
    if not dates:
        return None
    if function == "earliest_date":
        return min((d["start"] for d in dates), key=_instant)
    return max((d.get("end") or d["start"] for d in dates), key=_instant)


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, int | float) and isinstance(got, int | float):
        return abs(float(want) - float(got)) <= _TOLERANCE * max(1.0, abs(float(want)))
    if isinstance(want, str) and isinstance(got, str):
        try:
            return _instant(want) == _instant(got)
        except ValueError:
            return want == got
    return bool(want == got)


@dataclass
class RollupCheck:
    """The outcome of holding every modelled rollup of a workspace against its rows."""

    checked: int = 0
    """Row values compared."""
    rollups: int = 0
    """Rollup properties compared."""
    mismatches: list[str] = field(default_factory=list)
    not_modelled: list[str] = field(default_factory=list)


def rollup_mismatches(ws: DesiredWorkspace, rows: Mapping[str, Sequence[Json]]) -> RollupCheck:
    """Compare each row's rollups with what its related rows imply.

    ``rows`` holds every row of each database (by logical key), relation values complete.
    """
    result = RollupCheck()
    pages = {row["id"]: row for table in rows.values() for row in table}
    for key, db in ws.databases.items():
        for name, prop in db.properties.items():
            if prop.type != "rollup":
                continue
            function = str(prop.config["function"])
            if function not in MODELLED:
                result.not_modelled.append(f"{key}.{name} ({function})")
                continue
            result.rollups += 1
            relation, rolled = str(prop.config["relation"]), str(prop.config["property"])
            for row in rows.get(key, ()):
                props = row.get("properties", {})
                if relation not in props or name not in props:
                    missing = relation if relation not in props else name
                    result.mismatches.append(f'{key}.{name}: the row has no "{missing}"')
                    break
                links = [item["id"] for item in props[relation].get("relation", [])]
                related = [pages[i] for i in links if i in pages]
                values = [input_value(p.get("properties", {}).get(rolled)) for p in related]
                want = expected(function, values)
                got = actual(props[name])
                result.checked += 1
                if not _same(want, got):
                    result.mismatches.append(
                        f'{key}.{name} on "{row_title(row)}": {function} is {got!r}, '
                        f"the {len(related)} related rows give {want!r}"
                    )
    return result


def _links(row: Json, name: str) -> set[str]:
    value = row.get("properties", {}).get(name) or {}
    return {str(item["id"]).replace("-", "") for item in value.get("relation") or []}


def relation_mismatches(
    ws: DesiredWorkspace, rows: Mapping[str, Sequence[Json]]
) -> tuple[int, list[str]]:
    """Links of every two-way relation that one side shows and the other does not.

    Returns how many links were compared and one line per link seen from one side only.
    """
    checked, problems = 0, []
    for key, db in ws.databases.items():
        for name, prop in db.properties.items():
            if prop.type != "relation" or not prop.config["dual"] or prop.back_of is not None:
                continue
            to = str(prop.config["to"])
            back = next(
                (n for n, p in ws.databases[to].properties.items() if p.back_of == (key, name)),
                None,
            )
            if back is None:
                continue
            forward = {
                (str(r["id"]).replace("-", ""), b)
                for r in rows.get(key, ())
                for b in _links(r, name)
            }
            backward = {
                (a, str(r["id"]).replace("-", ""))
                for r in rows.get(to, ())
                for a in _links(r, back)
            }
            checked += len(forward | backward)
            for a, b in sorted(forward ^ backward):
                side = f"{key}.{name}" if (a, b) in forward else f"{to}.{back}"
                problems.append(f"{key}.{name} <-> {to}.{back}: link {a} -> {b} only on {side}")
    return checked, problems
