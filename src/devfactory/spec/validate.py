"""Check a loaded spec: its shapes (the pydantic model), what needs the whole spec, and rules.

:func:`validate_spec` returns the :class:`~devfactory.spec.model.Spec` or raises
:class:`~devfactory.errors.SpecError` holding every :class:`Issue` found, sorted by place,
each with ``file:line:col``, what is wrong and how to fix it::

    spec = load_and_validate(Path("workspace.yaml"), environment="dev")

The checks run in three layers. The model's errors are turned into issues with a human
message and hint; the parts of the spec they concern are then set aside so that the semantic
checks (relations, rollups, formulas, seed rows, …) still run over the rest, without
repeating complaints about what is already reported. Rules plugins
(:mod:`devfactory.spec.rules`) run only when the model has no errors.

"Back" properties, the ones a two-way relation creates on its target database, count as
properties of that database: rollups and formulas there may use them (:func:`back_properties`).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from devfactory.emulator.formula import compile_formula
from devfactory.errors import FormulaError, SpecError
from devfactory.spec.load import Issue, LoadedSpec, PathItem, SourceMap, load_spec_data
from devfactory.spec.model import (
    API_VERSION,
    SIMPLE_TYPES,
    DatabaseSpec,
    FormulaProperty,
    NumberProperty,
    Option,
    ParentSpec,
    PropertySpec,
    RelationProperty,
    RollupProperty,
    SelectProperty,
    SimpleProperty,
    Spec,
    StatusProperty,
    UniqueIdProperty,
)
from devfactory.spec.rules import (
    NamedRule,
    Rule,
    entry_point_rules,
    file_rules,
    named_rule,
    run_rule,
)

__all__ = [
    "COMPUTED_TYPES",
    "PROPERTY_TYPES",
    "STATUS_DEFAULTS",
    "Issue",
    "back_properties",
    "load_and_validate",
    "validate_spec",
]

PROPERTY_TYPES = (
    *SIMPLE_TYPES,
    "number", "select", "multi_select", "status", "formula", "relation", "rollup", "unique_id",
)  # fmt: skip
"""Every property type a spec may declare."""

COMPUTED_TYPES = frozenset(
    {
        "formula",
        "rollup",
        "created_time",
        "created_by",
        "last_edited_time",
        "last_edited_by",
        "unique_id",
    }
)
"""Property types Notion computes: seed rows cannot set them."""

STATUS_DEFAULTS = ("Not started", "In progress", "Done")
"""The options of a status property declared without any."""

_KEY_HINT = "use lowercase letters, digits, '-' and '_', starting with a letter (at most 63)"
_ROW_VALUE_FORMS = "text, a number, true/false, a list of texts or a {start, end} date"
_PROPERTY_MODELS: tuple[type[Any], ...] = (
    SimpleProperty, NumberProperty, SelectProperty, StatusProperty, FormulaProperty,
    RelationProperty, RollupProperty, UniqueIdProperty,
)  # fmt: skip
_TAG_MODELS: dict[str, type[Any]] = {
    tag: model
    for model in _PROPERTY_MODELS
    for tag in getattr(model.model_fields["type"].annotation, "__args__", ())
}
_MISSING_HINTS = {
    "apiVersion": f"add `apiVersion: {API_VERSION}` at the top",
    "workspace": "add `workspace: <name>` (lowercase letters, digits, '-' and '_')",
    "databases": "add `databases:` with at least one database",
    "title": "add `title: <the database's name in Notion>`",
    "properties": "add `properties:` with at least the title, e.g. `Name: title`",
    "page_id": "add `page_id: <32 hex digits>`, the id at the end of the page's URL",
    "name": "add `name: <option name>`",
    "expression": "add `expression: '<formula>'`, e.g. 'prop(\"Budget\") * 0.2'",
    "to": "add `to: <key of the target database>`",
    "relation": "add `relation: <a relation property of this database>`",
    "property": "add `property: <a property of the related database>`",
    "function": "add `function: <rollup function>`, e.g. count or sum",
}
_FIELD_NAMES = {
    "format": "number format",
    "function": "rollup function",
    "color": "color",
    "apiVersion": "apiVersion",
}


def load_and_validate(
    path: Path,
    *,
    environment: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Spec:
    """Load the spec at ``path`` for ``environment`` and validate it (see :func:`validate_spec`)."""
    return validate_spec(load_spec_data(path, environment=environment, environ=environ))


def validate_spec(loaded: LoadedSpec, *, extra_rules: Sequence[Rule] = ()) -> Spec:
    """The valid :class:`Spec` of ``loaded``, or :class:`SpecError` with every issue.

    Runs the model, the semantic checks, and the rules plugins (entry points, the spec's
    ``rules:`` files, then ``extra_rules``); issues are sorted by file, line and column.
    """
    issues: list[Issue] = []
    spec, broken = _validate_model(loaded, issues)
    model_ok = not issues
    if spec is not None:
        issues.extend(_Checker(spec, loaded, broken).check())
        if model_ok:
            issues.extend(_run_rules(spec, loaded, extra_rules))
    if issues or spec is None:
        raise SpecError(sorted(issues, key=_order))
    return spec


def back_properties(spec: Spec) -> dict[str, dict[str, tuple[str, str]]]:
    """The properties two-way relations create, by target database key.

    ``{target: {back name: (source database key, relation property name)}}``; the back name
    is ``synced_as``, or Notion's default ``Related to <source title> (<relation name>)``.
    Relations to unknown databases and to their own database are left out; when two back
    properties share a name on one database, the first wins (validation reports the other).
    """
    found: dict[str, dict[str, tuple[str, str]]] = {key: {} for key in spec.databases}
    for source, name, relation in _dual_relations(spec):
        found[relation.to].setdefault(_back_name(spec, source, name, relation), (source, name))
    return found


def _dual_relations(spec: Spec) -> Iterable[tuple[str, str, RelationProperty]]:
    for key, database in spec.databases.items():
        for name, prop in database.properties.items():
            if (
                isinstance(prop, RelationProperty)
                and prop.is_dual
                and prop.to in spec.databases
                and prop.to != key
            ):
                yield key, name, prop


def _back_name(spec: Spec, source: str, name: str, relation: RelationProperty) -> str:
    if relation.synced_as is not None:
        return relation.synced_as
    return f"Related to {spec.databases[source].title} ({name})"


def _order(issue: Issue) -> tuple[bool, str, int, int]:
    where = issue.location
    if where is None:
        return (True, "", 0, 0)
    return (False, where.file, where.line, where.column)


# ------------------------------------------------------------------------- the model layer


@dataclass
class _Broken:
    """What the model could not read: left out of the salvaged spec, and of later checks."""

    top: set[str] = field(default_factory=set)
    all_databases: bool = False
    databases: set[str] = field(default_factory=set)
    fields: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    properties: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    all_rows: set[str] = field(default_factory=set)
    rows: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    row_values: dict[tuple[str, int], set[str]] = field(default_factory=lambda: defaultdict(set))

    def note(self, loc: tuple[PathItem, ...]) -> None:
        if not loc:
            return
        if loc[0] != "databases":
            self.top.add(str(loc[0]))
            return
        if len(loc) == 1:
            self.all_databases = True
            return
        key = str(loc[1])
        part = loc[2] if len(loc) > 2 else None
        if part is None or part == "[key]" or (part == "properties" and len(loc) == 3):
            self.databases.add(key)
        elif part == "properties":
            self.properties[key].add(str(loc[3]))
        elif part == "rows" and len(loc) == 3:
            self.all_rows.add(key)
        elif part == "rows" and isinstance(loc[3], int):
            if len(loc) == 4:
                self.rows[key].add(loc[3])
            else:
                self.row_values[(key, loc[3])].add(str(loc[4]))
        else:
            self.fields[key].add(str(part))

    def salvage(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``data`` without the broken parts, so that the model accepts what is left."""
        out = {key: value for key, value in data.items() if key not in self.top}
        defaults = {"apiVersion": API_VERSION, "workspace": "workspace"}
        out.update({key: value for key, value in defaults.items() if key in self.top})
        raw = data.get("databases")
        if self.all_databases or not isinstance(raw, dict):
            out["databases"] = {}
            return out
        databases: dict[str, Any] = {}
        for key, database in raw.items():
            if key in self.databases or not isinstance(database, dict):
                continue
            fixed = {
                name: value for name, value in database.items() if name not in self.fields[key]
            }
            if "title" in self.fields[key]:
                fixed["title"] = key
            properties = fixed.get("properties")
            if isinstance(properties, dict):
                fixed["properties"] = {
                    name: value
                    for name, value in properties.items()
                    if name not in self.properties[key]
                }
            rows = fixed.get("rows")
            if key in self.all_rows:
                fixed["rows"] = []
            elif isinstance(rows, list):
                fixed["rows"] = [
                    {}
                    if index in self.rows[key] or not isinstance(row, dict)
                    else {
                        name: value
                        for name, value in row.items()
                        if name not in self.row_values[(key, index)]
                    }
                    for index, row in enumerate(rows)
                ]
            databases[key] = fixed
        out["databases"] = databases
        return out


def _validate_model(loaded: LoadedSpec, issues: list[Issue]) -> tuple[Spec | None, _Broken]:
    broken = _Broken()
    try:
        return Spec.model_validate(loaded.data), broken
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    issues.extend(_model_issues(errors, loaded))
    for error in errors:
        broken.note(tuple(error["loc"]))
    try:
        return Spec.model_validate(broken.salvage(loaded.data)), broken
    except ValidationError:  # pragma: no cover - salvage leaves only what the model accepted
        return None, broken


def _model_issues(errors: Sequence[Any], loaded: LoadedSpec) -> list[Issue]:
    issues: list[Issue] = []
    seen: set[tuple[PathItem, ...]] = set()
    for error in errors:
        loc = _clean(tuple(error["loc"]))
        if _is_row_value(loc):
            place = loc[:5]
            if place in seen:
                continue
            seen.add(place)
            issues.append(_row_shape_issue(place, loaded))
        else:
            issues.append(_error_issue(error, loc, loaded.source))
    unique: dict[str, Issue] = {}
    for issue in issues:
        unique.setdefault(str(issue), issue)
    return list(unique.values())


def _clean(loc: tuple[PathItem, ...]) -> tuple[PathItem, ...]:
    """``loc`` without the discriminator tag pydantic puts after a property name."""
    if (
        len(loc) > 4
        and loc[0] == "databases"
        and loc[2] == "properties"
        and loc[4] in PROPERTY_TYPES
    ):
        return loc[:4] + loc[5:]
    return loc


def _is_row_value(loc: tuple[PathItem, ...]) -> bool:
    return len(loc) > 5 and loc[0] == "databases" and loc[2] == "rows" and isinstance(loc[3], int)


def _row_shape_issue(place: tuple[PathItem, ...], loaded: LoadedSpec) -> Issue:
    value = _value_at(loaded.data, place)
    return Issue(
        loaded.source.locate(place),
        f"seed row value of {place[4]!r} is {_describe(value)}",
        f"a row value is {_ROW_VALUE_FORMS} (null for empty)",
    )


def _error_issue(error: Any, loc: tuple[PathItem, ...], source: SourceMap) -> Issue:
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    value = error["input"]
    name = loc[-1] if loc else ""
    owner = _subject(loc[:-1])
    if kind == "missing":
        hint = _MISSING_HINTS.get(str(name), f"add `{name}: …`")
        return Issue(source.locate_key(loc[:-1]), f"{owner} is missing {name!r}", hint)
    if kind == "extra_forbidden":
        raw = tuple(error["loc"])
        if _is_property(loc[:-1]) and len(raw) > 4:
            allowed = list(getattr(_TAG_MODELS.get(str(raw[4])), "model_fields", ()))
        else:
            allowed = _allowed_keys(loc[:-1])
        hint = "remove it or check the spelling"
        if allowed:
            close = _did_you_mean(str(name), allowed)
            hint = f"{close}otherwise remove it" if close else hint
            hint = f"{hint}; allowed here: {', '.join(allowed)}"
        return Issue(source.locate_key(loc), f"unknown key {name!r} in {owner}", hint)
    if name == "[key]":
        return _bad_key_issue(loc[:-1], ctx, source)
    if kind == "union_tag_invalid":
        tag = str(ctx.get("tag", ""))
        hint = f"{_did_you_mean(tag, PROPERTY_TYPES)}valid types: {', '.join(PROPERTY_TYPES)}"
        return Issue(
            source.locate((*loc, "type")), f"unknown property type {tag!r} for {name!r}", hint
        )
    if kind == "union_tag_not_found":
        return Issue(
            source.locate_key(loc),
            f"property {name!r} has no type",
            f"add `type: <one of {', '.join(PROPERTY_TYPES)}>`, or write `{name}: rich_text`",
        )
    if kind == "model_attributes_type" and _is_property(loc):
        return Issue(
            source.locate(loc),
            f"property {name!r} is {_describe(value)}; expected a type name or a mapping",
            f"write `{name}: rich_text` or `{name}: {{type: number, format: dollar}}`",
        )
    where = source.locate(loc)
    label = _label(loc)
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        what = _FIELD_NAMES.get(str(name), str(name))
        return Issue(
            where,
            f"{_show(value)} is not a valid {what}",
            f"{_did_you_mean(str(value), expected)}use one of: {', '.join(expected)}",
        )
    if kind == "string_pattern_mismatch" and name == "to":
        return Issue(
            where,
            f"relation target {_show(value)} is not a database key",
            "`to:` takes the key of a database under `databases:` (lowercase), not its title",
        )
    if kind == "string_pattern_mismatch":
        return Issue(where, f"{_show(value)} is not a valid key for {label}", _KEY_HINT)
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return Issue(where, f"{label} is empty", f"give {label} a value, or remove it")
        return Issue(
            where,
            f"{label} is too short (at least {ctx.get('min_length')} characters)",
            _value_hint(name),
        )
    if kind == "string_too_long":
        return Issue(
            where,
            f"{label} is too long ({len(str(value))} characters, at most {ctx.get('max_length')})",
            "shorten it",
        )
    if kind in ("string_type", "str_type"):
        hint = "quote it" if isinstance(value, int | float) else "write it as text"
        return Issue(where, f"{label} must be text, not {_describe(value)}", hint)
    if kind in ("bool_type", "bool_parsing"):
        return Issue(
            where, f"{label} must be true or false, not {_describe(value)}", "write true or false"
        )
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return Issue(
            where,
            f"{label} must be a mapping, not {_describe(value)}",
            "write `key: value` entries, indented under it",
        )
    if kind == "list_type":
        return Issue(
            where,
            f"{label} must be a list, not {_describe(value)}",
            "write items as `- item` lines, or [a, b]",
        )
    if kind == "value_error":
        message = str(error["msg"]).removeprefix("Value error, ")
        return Issue(where, f"{_subject(loc[:-1])}: {message}", _value_hint(name))
    return Issue(where, f"{label}: {error['msg']}", _value_hint(name))


def _bad_key_issue(path: tuple[PathItem, ...], ctx: Mapping[str, Any], source: SourceMap) -> Issue:
    key = str(path[-1]) if path else ""
    if len(path) == 2 and path[0] == "databases":
        suggestion = re.sub(r"[^a-z0-9_-]+", "_", key.lower()).strip("_-")
        hint = _KEY_HINT + (
            f", e.g. {suggestion!r}" if re.fullmatch(r"[a-z][a-z0-9_-]*", suggestion) else ""
        )
        return Issue(source.locate_key(path), f"database key {key!r} is not valid", hint)
    if ctx.get("min_length") == 1:
        return Issue(
            source.locate_key(path), "a property name is empty", "give the property a name"
        )
    return Issue(
        source.locate_key(path),
        f"name {key[:60]!r} is not valid",
        f"names are at most {ctx.get('max_length', 1000)} characters",
    )


def _is_property(loc: tuple[PathItem, ...]) -> bool:
    return len(loc) == 4 and loc[0] == "databases" and loc[2] == "properties"


def _allowed_keys(loc: tuple[PathItem, ...]) -> list[str]:
    model: type[Any] | None = None
    if not loc:
        model = Spec
    elif loc == ("parent",):
        model = ParentSpec
    elif len(loc) == 2 and loc[0] == "databases":
        model = DatabaseSpec
    elif len(loc) == 6 and loc[2] == "properties" and loc[4] == "options":
        model = Option
    return (
        [info.alias or name for name, info in model.model_fields.items() if name != "environments"]
        if model
        else []
    )


def _subject(loc: tuple[PathItem, ...]) -> str:
    if not loc:
        return "the spec"
    if loc[0] == "databases" and len(loc) >= 2:
        key = loc[1]
        if len(loc) >= 4 and loc[2] == "properties":
            return f"property {loc[3]!r}" + (f" (option {_index(loc[5])})" if len(loc) >= 6 else "")
        if len(loc) >= 4 and loc[2] == "rows":
            return f"seed row {_index(loc[3])} of {key!r}"
        return f"database {key!r}"
    return repr(".".join(str(part) for part in loc))


def _label(loc: tuple[PathItem, ...]) -> str:
    if not loc:
        return "the spec"
    name = loc[-1]
    if len(loc) == 4 and loc[0] == "databases" and loc[2] == "rows":
        return f"seed row {_index(name)} of {loc[1]!r}"
    if isinstance(name, int):
        return f"item {name + 1} of {loc[-2]!r}" if len(loc) > 1 else f"item {name + 1}"
    if len(loc) == 4 and loc[0] == "databases" and loc[2] == "properties":
        return f"property {name!r}"
    return repr(name)


def _index(part: PathItem) -> str:
    return str(part + 1) if isinstance(part, int) else repr(part)


def _value_hint(name: PathItem) -> str:
    if name == "page_id":
        return "a Notion page id is 32 hex digits (dashes optional), from the end of the page's URL"
    return "see docs/spec.md for the allowed values"


# ---------------------------------------------------------------------- semantic checks


class _Checker:
    """The checks that need the whole spec; each finding is an Issue with a hint."""

    def __init__(self, spec: Spec, loaded: LoadedSpec, broken: _Broken) -> None:
        self.spec = spec
        self.data = loaded.data
        self.source = loaded.source
        self.broken = broken
        self.issues: list[Issue] = []
        self.back = back_properties(spec)

    def add(self, path: Sequence[PathItem], message: str, hint: str, *, key: bool = False) -> None:
        where = self.source.locate_key(path) if key else self.source.locate(path)
        self.issues.append(Issue(where, message, hint))

    def check(self) -> list[Issue]:
        self.check_titles_unique()
        self.check_back_properties()
        for key, database in self.spec.databases.items():
            self.check_title_property(key, database)
            for name, prop in database.properties.items():
                path = ("databases", key, "properties", name)
                if isinstance(prop, RelationProperty):
                    self.check_relation(key, name, prop, path)
                elif isinstance(prop, RollupProperty):
                    self.check_rollup(key, name, prop, path)
                elif isinstance(prop, FormulaProperty):
                    self.check_formula(key, name, prop, path)
                elif isinstance(prop, SelectProperty | StatusProperty):
                    self.check_options(name, prop, path)
            self.check_renames(key, database)
            _RowChecker(self, key, database).check()
        return self.issues

    # -- helpers

    def known_databases(self) -> set[str]:
        return set(self.spec.databases) | self.broken.databases

    def properties_of(self, key: str) -> set[str]:
        """Declared, back and unreadable property names of database ``key``."""
        database = self.spec.databases.get(key)
        declared = set(database.properties) if database else set()
        return declared | set(self.back.get(key, {})) | self.broken.properties.get(key, set())

    def relations_of(self, key: str) -> dict[str, str]:
        """Relation property name → related database key, declared and back ones."""
        found = {
            name: prop.to
            for name, prop in self.spec.databases[key].properties.items()
            if isinstance(prop, RelationProperty)
        }
        taken = set(self.spec.databases[key].properties) | self.broken.properties.get(key, set())
        for name, (source, _relation) in self.back.get(key, {}).items():
            if name not in taken:
                found[name] = source
        return found

    def is_unsure(self, key: str) -> bool:
        """Whether database ``key`` lost properties to model errors (so absences prove nothing)."""
        return key in self.broken.databases or bool(self.broken.properties.get(key))

    # -- databases

    def check_titles_unique(self) -> None:
        first: dict[str, str] = {}
        for key, database in self.spec.databases.items():
            if "title" in self.broken.fields.get(key, set()):
                continue
            other = first.setdefault(database.title, key)
            if other != key:
                self.add(
                    ("databases", key, "title"),
                    f"database title {database.title!r} is also the title of {other!r}",
                    "give each database a distinct title; Notion users tell them apart by it",
                )

    def check_title_property(self, key: str, database: DatabaseSpec) -> None:
        titles = [name for name, prop in database.properties.items() if prop.type == "title"]
        if not titles and not self.is_unsure(key):
            self.add(
                ("databases", key, "properties"),
                f"database {key!r} has no title property",
                "add exactly one, e.g. `Name: title`",
                key=True,
            )
        for extra in titles[1:]:
            self.add(
                ("databases", key, "properties", extra),
                f"database {key!r} has more than one title property ({', '.join(map(repr, titles))})",
                f"keep one title; make {extra!r} rich_text",
                key=True,
            )

    def check_back_properties(self) -> None:
        taken: dict[tuple[str, str], tuple[str, str]] = {}
        for key, database in self.spec.databases.items():
            for name, prop in database.properties.items():
                if not isinstance(prop, RelationProperty) or not prop.is_dual:
                    continue
                path = ("databases", key, "properties", name)
                setting = (*path, "synced_as") if prop.synced_as is not None else (*path, "dual")
                if prop.to == key:
                    self.add(
                        setting,
                        f"relation {name!r} of {key!r} is two-way to its own database",
                        "Notion cannot sync a relation with itself; remove synced_as/dual to make it one-way",
                    )
                    continue
                target = self.spec.databases.get(prop.to)
                if target is None:
                    continue
                back = _back_name(self.spec, key, name, prop)
                declared = set(target.properties) | self.broken.properties.get(prop.to, set())
                if back in declared:
                    self.add(
                        setting,
                        f"two-way relation {name!r} would create {back!r} on {prop.to!r}, "
                        f"which already declares a property {back!r}",
                        "give synced_as another name, or rename the declared property",
                    )
                    continue
                other = taken.setdefault((prop.to, back), (key, name))
                if other != (key, name):
                    self.add(
                        setting,
                        f"two-way relation {name!r} would create {back!r} on {prop.to!r}, "
                        f"which {other[0]}.{other[1]} already creates there",
                        "give one of them another synced_as name",
                    )

    # -- properties

    def check_relation(
        self, key: str, name: str, prop: RelationProperty, path: tuple[PathItem, ...]
    ) -> None:
        known = self.known_databases()
        if prop.to not in known:
            self.add(
                (*path, "to"),
                f"relation {name!r} points to {prop.to!r}, which is not a database of this spec",
                f"{_did_you_mean(prop.to, known)}databases: {', '.join(sorted(known)) or 'none'}",
            )

    def check_rollup(
        self, key: str, name: str, prop: RollupProperty, path: tuple[PathItem, ...]
    ) -> None:
        relations = self.relations_of(key)
        related = relations.get(prop.relation)
        if related is None:
            declared = self.spec.databases[key].properties.get(prop.relation)
            if prop.relation in self.broken.properties.get(key, set()):
                return
            if declared is not None:
                message = (
                    f"rollup {name!r} goes through {prop.relation!r}, which is a "
                    f"{declared.type} property, not a relation"
                )
            else:
                message = f"rollup {name!r} goes through {prop.relation!r}, which is not a property of {key!r}"
            hint = (
                f"{_did_you_mean(prop.relation, relations)}relations of {key!r}: {', '.join(sorted(relations))}"
                if relations
                else f"{key!r} has no relation: declare one, or a two-way relation to it (synced_as)"
            )
            self.add((*path, "relation"), message, hint)
            return
        if related not in self.spec.databases:
            return
        available = self.properties_of(related)
        if prop.property not in available:
            self.add(
                (*path, "property"),
                f"rollup {name!r} reads {prop.property!r} of {related!r}, which has no such property",
                f"{_did_you_mean(prop.property, available)}properties of {related!r}: "
                f"{', '.join(sorted(available))}",
            )

    def check_formula(
        self, key: str, name: str, prop: FormulaProperty, path: tuple[PathItem, ...]
    ) -> None:
        expression_path = (*path, "expression")
        try:
            formula = compile_formula(prop.expression)
        except FormulaError as exc:
            self.issues.append(
                Issue(
                    self.source.locate_offset(expression_path, exc.position),
                    f"formula {name!r} does not compile: {exc.message}",
                    "see docs/formula.md for the functions and syntax supported",
                )
            )
            return
        available = self.properties_of(key)
        for reference in sorted(formula.references - available):
            self.issues.append(
                Issue(
                    self.source.locate_offset(
                        expression_path, _reference_offset(prop.expression, reference)
                    ),
                    f"formula {name!r} reads prop({json.dumps(reference, ensure_ascii=False)}), "
                    f"which is not a property of {key!r}",
                    f"{_did_you_mean(reference, available)}formulas read properties of their own "
                    "database, back properties included",
                )
            )

    def check_options(
        self, name: str, prop: SelectProperty | StatusProperty, path: tuple[PathItem, ...]
    ) -> None:
        seen: set[str] = set()
        for index, option in enumerate(prop.options or []):
            if option.name in seen:
                self.add(
                    (*path, "options", index),
                    f"option {option.name!r} of {name!r} is listed twice",
                    "remove the duplicate; option names are unique",
                )
            seen.add(option.name)

    def check_renames(self, key: str, database: DatabaseSpec) -> None:
        claimed: dict[str, str] = {}
        for name, prop in database.properties.items():
            for index, old in enumerate(prop.renamed_from):
                path = ("databases", key, "properties", name, "renamed_from", index)
                if old == name:
                    self.add(path, f"{name!r} lists its own name in renamed_from", "remove it")
                elif old in database.properties:
                    self.add(
                        path,
                        f"{name!r} is renamed from {old!r}, but {old!r} is also a current property",
                        f"remove {old!r} from renamed_from, or rename the other property",
                    )
                elif claimed.setdefault(old, name) != name:
                    self.add(
                        path,
                        f"{old!r} is in renamed_from of both {claimed[old]!r} and {name!r}",
                        "an old name can become only one property; remove one of them",
                    )


class _RowChecker:
    """Seed rows of one database: keys, titles and the form of every value."""

    def __init__(self, checker: _Checker, key: str, database: DatabaseSpec) -> None:
        self.checker = checker
        self.key = key
        self.database = database
        titles = [name for name, prop in database.properties.items() if prop.type == "title"]
        self.title = titles[0] if len(titles) == 1 else None

    def check(self) -> None:
        broken = self.checker.broken
        if self.key in broken.all_rows:
            return
        first: dict[str, int] = {}
        for index, row in enumerate(self.database.rows):
            if index in broken.rows.get(self.key, set()):
                continue
            skipped = broken.row_values.get((self.key, index), set())
            path = ("databases", self.key, "rows", index)
            title = row.get(self.title) if self.title else None
            label = (
                f"seed row {title!r}"
                if isinstance(title, str) and title
                else f"seed row {index + 1}"
            )
            if self.title and self.title not in skipped:
                self.check_title(path, index, title, first)
            for name, value in row.items():
                if name not in skipped:
                    self.check_value((*path, name), label, name, value)

    def check_title(
        self, path: tuple[PathItem, ...], index: int, title: Any, first: dict[str, int]
    ) -> None:
        assert self.title is not None
        if not isinstance(title, str) or not title.strip():
            self.checker.add(
                path,
                f"seed row {index + 1} of {self.key!r} has no title ({self.title!r})",
                f"add `{self.title}: <title>`; seed rows are matched by title",
            )
            return
        other = first.setdefault(title, index)
        if other != index:
            self.checker.add(
                (*path, self.title),
                f"seed row title {title!r} is used twice in {self.key!r} (rows {other + 1} and {index + 1})",
                "seed rows are upserted by title; make each title unique",
            )

    def check_value(self, path: tuple[PathItem, ...], label: str, name: str, value: Any) -> None:
        prop = self.database.properties.get(name)
        checker = self.checker
        if prop is None:
            if name in checker.broken.properties.get(self.key, set()):
                return
            back = checker.back.get(self.key, {}).get(name)
            if back is not None:
                hint = f"set the relation on the {back[0]!r} rows ({back[1]!r}) instead"
                checker.add(
                    path, f"{name!r} is the back side of {back[0]}.{back[1]}", hint, key=True
                )
                return
            renamed = next(
                (
                    new
                    for new, p in self.database.properties.items()
                    if name in (getattr(p, "renamed_from", None) or ())
                ),
                None,
            )
            if renamed is not None:
                checker.add(
                    path,
                    f"{label}: {name!r} was renamed to {renamed!r}",
                    f"write {renamed!r} here",
                    key=True,
                )
                return
            names = [*self.database.properties, *checker.broken.properties.get(self.key, ())]
            checker.add(
                path,
                f"{label}: {name!r} is not a property of {self.key!r}",
                f"{_did_you_mean(name, names)}properties: {', '.join(names)}",
                key=True,
            )
            return
        if prop.type in COMPUTED_TYPES:
            checker.add(
                path,
                f"{label}: {name!r} is a {prop.type} property, which Notion computes",
                "remove it from the row",
                key=True,
            )
            return
        if value is None:
            return
        problem = self.problem(prop, value, path)
        if problem is not None:
            where, message, hint = problem
            checker.add(where, f"{label}: {name!r} {message}", hint)

    def problem(
        self, prop: PropertySpec, value: Any, path: tuple[PathItem, ...]
    ) -> tuple[tuple[PathItem, ...], str, str] | None:
        kind = prop.type
        if kind in ("title", "rich_text", "url", "email", "phone_number"):
            if not isinstance(value, str):
                return path, f"must be text, not {_describe(value)}", "quote it"
        elif kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                return path, f"must be a number, not {_describe(value)}", "write digits, unquoted"
            if not math.isfinite(value):
                return path, "must be a finite number", "write digits, unquoted"
        elif kind == "checkbox":
            if not isinstance(value, bool):
                return path, f"must be true or false, not {_describe(value)}", "write true or false"
        elif kind == "date":
            return _date_problem(value, path)
        elif isinstance(prop, SelectProperty | StatusProperty):
            options = [option.name for option in prop.options or []]
            if isinstance(prop, StatusProperty) and prop.options is None:
                options = list(STATUS_DEFAULTS)
            many = kind == "multi_select"
            what = f"an option of {path[-1]!r}"
            return self.choice_problem(value, path, options, many=many, what=what)
        elif isinstance(prop, RelationProperty):
            if prop.to not in self.checker.spec.databases:
                return _texts_problem(value, path)
            titles = self.titles_of(prop.to)
            what = f"the title of a seed row of {prop.to!r}"
            return self.choice_problem(value, path, titles, many=True, what=what)
        elif kind in ("people", "files"):
            return _texts_problem(value, path)
        return None

    def choice_problem(
        self,
        value: Any,
        path: tuple[PathItem, ...],
        choices: Sequence[str],
        *,
        many: bool,
        what: str,
    ) -> tuple[tuple[PathItem, ...], str, str] | None:
        items: list[tuple[tuple[PathItem, ...], Any]]
        if isinstance(value, list) and many:
            items = [((*path, index), item) for index, item in enumerate(value)]
        elif isinstance(value, str):
            items = [(path, value)]
        else:
            form = "a text or a list of texts" if many else "a text"
            return path, f"must be {form}, not {_describe(value)}", "write names as text"
        for where, item in items:
            if not isinstance(item, str):
                return where, f"has {_describe(item)} in its list", "write names as text"
            if item not in choices:
                known = _listing(choices)
                return (
                    where,
                    f"is {item!r}, which is not {what}",
                    f"{_did_you_mean(item, choices)}known: {known}",
                )
        return None

    def titles_of(self, target: str) -> list[str]:
        """Titles of the seed rows of ``target`` as written (unreadable rows included)."""
        database = self.checker.spec.databases[target]
        titles = [name for name, prop in database.properties.items() if prop.type == "title"]
        raw = _value_at(self.checker.data, ("databases", target, "rows"))
        if len(titles) != 1 or not isinstance(raw, list):
            return []
        return list(
            dict.fromkeys(
                row[titles[0]]
                for row in raw
                if isinstance(row, dict) and isinstance(row.get(titles[0]), str)
            )
        )


def _texts_problem(
    value: Any, path: tuple[PathItem, ...]
) -> tuple[tuple[PathItem, ...], str, str] | None:
    if isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        return None
    return path, f"must be a text or a list of texts, not {_describe(value)}", "quote the values"


def _date_problem(
    value: Any, path: tuple[PathItem, ...]
) -> tuple[tuple[PathItem, ...], str, str] | None:
    hint = 'write "2026-03-01", "2026-03-01T09:30:00+01:00" or {start: "2026-03-01", end: "2026-03-05"}'
    if isinstance(value, str):
        return None if _is_iso(value) else (path, f"is {value!r}, not an ISO date", hint)
    if not isinstance(value, dict):
        return path, f"must be a date, not {_describe(value)}", hint
    extra = sorted(set(value) - {"start", "end"})
    if extra:
        return (*path, extra[0]), f"has unknown date key {extra[0]!r}", hint
    start = value.get("start")
    if not isinstance(start, str):
        return path, "has no start date", hint
    for part in ("start", "end"):
        text = value.get(part)
        if text is not None and not _is_iso(text):
            return (*path, part), f"{part} is {text!r}, not an ISO date", hint
    return None


def _is_iso(text: str) -> bool:
    try:
        if len(text) == 10:
            date.fromisoformat(text)
        else:
            datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _reference_offset(expression: str, reference: str) -> int | None:
    quoted = reference.replace("\\", "\\\\").replace('"', '\\"')
    match = re.search(r'prop\(\s*"' + re.escape(quoted) + '"', expression)
    return match.start() if match else None


# ------------------------------------------------------------------------------- rules


def _run_rules(spec: Spec, loaded: LoadedSpec, extra_rules: Sequence[Rule]) -> list[Issue]:
    rules, issues = entry_point_rules()
    for index, entry in enumerate(spec.rules):
        found, problems = file_rules(
            loaded.path.parent / entry, location=loaded.source.locate(("rules", index))
        )
        rules.extend(found)
        issues.extend(problems)
    rules.extend(named_rule(func) for func in extra_rules)
    named: NamedRule
    for named in rules:
        issues.extend(run_rule(named, spec, loaded.source))
    return issues


# ------------------------------------------------------------------------------ wording


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def _describe(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return f"{value!r} (a number)"
    if isinstance(value, str):
        return f"the text {_show(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _listing(names: Sequence[str], limit: int = 20) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, … ({len(names) - limit} more)"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _value_at(data: Any, path: Sequence[PathItem]) -> Any:
    for part in path:
        if isinstance(data, dict) and isinstance(part, str):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data
