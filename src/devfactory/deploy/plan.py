"""Diff the desired workspace against what Notion has, and schedule the fewest calls.

:func:`make_plan` compares, database by database and property by property (matched by the
id the state remembers, then by ``renamed_from``, then by name), and yields :class:`Change`
lines for people and :class:`Step` calls for the apply. Every step is exactly one API call,
so the plan's call count is a promise.

Scheduling, to need as few calls as possible:

1. the root page (if devfactory makes one), then every new database, each created with
   every property whose dependencies already exist — relation targets are created first;
2. what is left (relations to databases created later, rollups over back properties,
   formulas over those) goes into ``PATCH /v1/data_sources`` calls: one per database when
   the dependencies between databases allow it, more only inside a dependency cycle;
3. seed rows, in the order their relation values need, a second write only to close a
   cycle of row relations.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from devfactory.deploy.desired import (
    COMPUTED_TYPES,
    DesiredDatabase,
    DesiredProperty,
    DesiredWorkspace,
    icon_payload,
    property_payload,
    ref,
    rich_text,
    root_title,
    row_hash,
    row_payload,
)
from devfactory.deploy.observe import (
    Observation,
    ObservedDatabase,
    ObservedProperty,
    normalise_expression,
)
from devfactory.deploy.state import State

__all__ = ["Change", "Plan", "Step", "make_plan"]

Json = dict[str, Any]
PLAN_FORMAT = 1
SYMBOLS = {
    "create": "+",
    "update": "~",
    "delete": "-",
    "replace": "-/+",
    "adopt": "=",
    "restore": "~",
    "note": "#",
}


@dataclass
class Change:
    """One line of the plan a person reads."""

    action: str
    address: str
    summary: str
    details: list[str] = field(default_factory=list)
    destructive: bool = False
    database: str | None = None

    @property
    def symbol(self) -> str:
        return SYMBOLS.get(self.action, "?")


@dataclass
class Step:
    """One API call of the apply. ``payload`` may hold ``{"$ref": …}`` placeholders."""

    kind: str  # create_root_page | update_page_trash | create_database | update_database |
    #            update_data_source | create_page | update_page
    label: str
    payload: Json
    database: str | None = None
    row: str | None = None
    names: list[str] = field(default_factory=list)  # property names whose ids the answer gives
    # two-way relations this call makes: [relation name, target key, back property name]
    backs: list[list[str]] = field(default_factory=list)


@dataclass
class Plan:
    """Everything an apply will do, and why."""

    workspace: str
    environment: str
    target: str
    spec_hash: str
    state_serial: int
    lineage: str
    changes: list[Change] = field(default_factory=list)
    drift: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    observe_reads: int = 0
    adopted: dict[str, Json] = field(default_factory=dict)
    # property name -> id for every property matched on a known database (the apply records
    # them in the state, so later renames go by id)
    bindings: dict[str, dict[str, str]] = field(default_factory=dict)
    # select options the plan removes: [{"db", "property", "property_id", "type", "options"}]
    option_removals: list[Json] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, int]:
        """Counts of resources to add, change and destroy (replacements count as both)."""
        add = sum(1 for c in self.changes if c.action in ("create", "replace"))
        change = sum(1 for c in self.changes if c.action in ("update", "restore"))
        destroy = sum(1 for c in self.changes if c.action in ("delete", "replace"))
        return {"add": add, "change": change, "destroy": destroy}

    @property
    def destructive(self) -> list[Change]:
        return [c for c in self.changes if c.destructive]

    @property
    def empty(self) -> bool:
        """Nothing to do: no step at all."""
        return not self.steps

    def calls_by_kind(self) -> dict[str, int]:
        """How many calls of each kind the apply will make."""
        counts: dict[str, int] = {}
        for step in self.steps:
            counts[step.kind] = counts.get(step.kind, 0) + 1
        return counts

    def to_json(self) -> Json:
        """The plan as JSON (``plan --json`` / ``--out``)."""
        data = asdict(self)
        data["format_version"] = PLAN_FORMAT
        data["summary"] = self.summary
        data["calls"] = {"total": len(self.steps), "by_kind": self.calls_by_kind()}
        for change, raw in zip(self.changes, data["changes"], strict=True):
            raw["symbol"] = change.symbol
        return data

    @classmethod
    def from_json(cls, data: Json) -> Plan:
        """Read a plan written by :meth:`to_json`."""
        if data.get("format_version") != PLAN_FORMAT:
            raise ValueError(f"unknown plan format {data.get('format_version')!r}")
        return cls(
            workspace=data["workspace"],
            environment=data["environment"],
            target=data["target"],
            spec_hash=data["spec_hash"],
            state_serial=int(data["state_serial"]),
            lineage=data["lineage"],
            changes=[
                Change(**{k: v for k, v in c.items() if k != "symbol"}) for c in data["changes"]
            ],
            drift=[Change(**c) for c in data["drift"]],
            notes=list(data["notes"]),
            steps=[Step(**s) for s in data["steps"]],
            refused=list(data["refused"]),
            observe_reads=int(data.get("observe_reads", 0)),
            adopted=dict(data.get("adopted", {})),
            bindings={k: dict(v) for k, v in data.get("bindings", {}).items()},
            option_removals=list(data.get("option_removals", [])),
        )


# ---------------------------------------------------------------------------- property ops


@dataclass
class _Op:
    """One entry of a data source's ``properties`` payload (or a title/icon change)."""

    db: str
    key: str
    value: Json | None
    name: str
    kind: str  # plain | relation | rollup | formula | meta
    deps: set[int] = field(default_factory=set)
    needs: set[str] = field(default_factory=set)


def _address(db: str, prop: str | None = None, row: str | None = None) -> str:
    if prop is not None:
        return f'databases.{db}.properties["{prop}"]'
    if row is not None:
        return f'databases.{db}.rows["{row}"]'
    return f"databases.{db}"


def _describe(prop: DesiredProperty) -> str:
    config = prop.config
    if prop.type in ("select", "multi_select"):
        return (
            f"{prop.type}: {', '.join(o['name'] for o in config['options'])}"
            if config["options"]
            else prop.type
        )
    if prop.type == "relation":
        side = "two-way" if config["dual"] else "one-way"
        return f"relation → {config['to']} ({side}{', synced as ' + repr(config['synced_as']) if config.get('synced_as') else ''})"
    if prop.type == "rollup":
        return f"rollup {config['function']} of {config['relation']}.{config['property']}"
    if prop.type == "formula":
        return f"formula {config['expression']}"
    if prop.type == "number":
        return f"number ({config['format']})"
    if prop.type == "unique_id":
        return f"unique_id{' ' + config['prefix'] if config['prefix'] else ''}"
    return prop.type


def _op_kind(prop: DesiredProperty) -> str:
    return prop.type if prop.type in ("relation", "rollup", "formula") else "plain"


class _Planner:
    """Builds one plan; kept in an object because the passes share a lot of context."""

    def __init__(
        self,
        ws: DesiredWorkspace,
        state: State,
        seen: Observation,
        *,
        name_back: bool,
        same_request: bool,
    ) -> None:
        self.ws = ws
        self.state = state
        self.seen = seen
        self.name_back = name_back
        self.same_request = same_request
        self.plan = Plan(
            workspace=ws.workspace,
            environment=ws.environment,
            target=state.target,
            spec_hash=ws.spec_hash,
            state_serial=state.serial,
            lineage=state.lineage,
        )
        self.ops: list[_Op] = []
        # (db, property name) -> op index that creates or renames it in this plan
        self.provides: dict[tuple[str, str], int] = {}
        self.new_dbs: list[str] = []
        self.in_use_options: dict[tuple[str, str], set[str]] = {}

    # ------------------------------------------------------------------ helpers

    def change(self, action: str, db: str, summary: str, *, prop: str | None = None, row: str | None = None,
               details: Iterable[str] = (), destructive: bool = False) -> Change:  # fmt: skip
        change = Change(action, _address(db, prop, row), summary, list(details), destructive, db)
        self.plan.changes.append(change)
        if destructive and self.ws.databases[db].protect:
            self.plan.refused.append(
                f"{change.address}: {summary} — database {db!r} is protected (protect: true); "
                "remove `protect` from the spec to allow destructive changes"
            )
        return change

    def add_op(self, op: _Op, provides: str | None = None) -> int:
        self.ops.append(op)
        index = len(self.ops) - 1
        if provides is not None:
            self.provides[(op.db, provides)] = index
        return index

    def exists(self, db: str) -> bool:
        return db in self.seen.databases

    # ------------------------------------------------------------------ passes

    def run(self) -> Plan:
        self.root_pass()
        for key, db in self.ws.databases.items():
            self.database_pass(key, db)
        self.dependency_pass()
        self.schedule_schema()
        self.rows_pass()
        self.notes_pass()
        return self.plan

    def root_pass(self) -> None:
        seen = self.seen
        if self.ws.parent_page_id:
            return
        title = root_title(self.ws.workspace, self.ws.environment)
        if seen.root_page_id is None:
            self.plan.changes.append(
                Change("create", "root_page", f'root page "{title}" (at the workspace level)')
            )
            self.plan.steps.append(
                Step(
                    "create_root_page",
                    f"create root page {title!r}",
                    {
                        "parent": {"type": "workspace", "workspace": True},
                        "properties": {"title": {"title": rich_text(title)}},
                    },
                )
            )
        elif seen.root_in_trash:
            self.plan.changes.append(
                Change("restore", "root_page", f'restore root page "{title}" from the trash')
            )
            self.plan.steps.append(
                Step(
                    "update_page_trash",
                    f"restore root page {title!r}",
                    {"page": ref("root"), "in_trash": False},
                )
            )
        elif seen.root_adopted:
            self.plan.changes.append(
                Change("adopt", "root_page", f'adopt existing root page "{title}"')
            )
            self.plan.adopted["root"] = {"page_id": seen.root_page_id}

    def database_pass(self, key: str, db: DesiredDatabase) -> None:
        observed = self.seen.databases.get(key)
        if observed is None:
            why = " (it was deleted outside devfactory)" if key in self.seen.missing else ""
            self.change(
                "create",
                key,
                f'database "{db.title}"{why}',
                details=[
                    f"+ {n}: {_describe(p)}" for n, p in db.properties.items() if p.back_of is None
                ],
            )
            if key in self.seen.missing:
                self.plan.drift.append(
                    Change("delete", _address(key), f'database "{db.title}" is gone', database=key)
                )
            self.new_dbs.append(key)
            for name, prop in db.properties.items():
                if prop.back_of is None:
                    self.add_op(
                        _Op(
                            key,
                            name,
                            property_payload(key, prop, name_back=self.name_back),
                            name,
                            _op_kind(prop),
                        ),
                        provides=name,
                    )
            return
        if key in self.seen.adopted:
            self.change("adopt", key, f'adopt existing database "{db.title}"')
            self.plan.adopted[key] = {
                "database_id": observed.database_id,
                "data_source_id": observed.data_source_id,
            }
        if observed.in_trash:
            self.change("restore", key, f'restore database "{db.title}" from the trash')
            self.plan.steps.append(
                Step(
                    "update_data_source",
                    f"restore {key}",
                    {"data_source": ref("ds", db=key), "in_trash": False},
                    database=key,
                )
            )
        self.meta_pass(key, db, observed)
        self.properties_pass(key, db, observed)

    def meta_pass(self, key: str, db: DesiredDatabase, observed: ObservedDatabase) -> None:
        known = self.state.databases.get(key)
        database_update: Json = {}
        details = []
        if observed.title != db.title:
            database_update["title"] = rich_text(db.title)
            self.add_op(_Op(key, "__title__", {"title": rich_text(db.title)}, "__title__", "meta"))
            details.append(f'title: "{observed.title}" -> "{db.title}"')
        # Icons and descriptions live on the database; what was applied is in the state (a
        # data source answer need not carry them), what an adopted database has is observed.
        fresh = known is not None and key not in self.seen.adopted
        applied_icon = known.icon if fresh and known is not None else observed.icon
        if db.icon is not None and applied_icon != db.icon:
            database_update["icon"] = icon_payload(db.icon)
            details.append(f"icon: {applied_icon or '(none)'} -> {db.icon}")
        applied_description = (
            known.description if known is not None and key not in self.seen.adopted else None
        )
        if (db.description or None) != (applied_description or None) and (
            db.description or key in self.seen.adopted or applied_description
        ):
            database_update["description"] = rich_text(db.description or "")
            details.append(f"description: {applied_description!r} -> {db.description!r}")
        if database_update:
            self.change("update", key, f'database "{db.title}"', details=details)
            self.plan.steps.append(
                Step(
                    "update_database",
                    f"update database {key}",
                    {"database": ref("db", db=key), **database_update},
                    database=key,
                )
            )

    def _match(
        self, key: str, db: DesiredDatabase, observed: ObservedDatabase
    ) -> dict[str, ObservedProperty]:
        """Desired property name -> observed property: by remembered id, then renamed_from,
        then name; back properties through their relation's synced id."""
        known = self.state.databases.get(key)
        ids = known.properties if known is not None else {}
        matched: dict[str, ObservedProperty] = {}
        claimed: set[str] = set()

        def take(name: str, prop: ObservedProperty | None) -> bool:
            if prop is None or prop.id in claimed:
                return False
            matched[name] = prop
            claimed.add(prop.id)
            return True

        title = observed.title_property
        for name, prop in db.properties.items():
            if prop.type == "title":
                take(name, title)
        for name, prop in db.properties.items():
            if name in matched or prop.back_of is not None:
                continue
            candidates = [ids.get(name)] + [ids.get(old) for old in prop.renamed_from]
            if any(take(name, observed.properties.get(pid)) for pid in candidates if pid):
                continue
            if take(name, observed.named(name)):
                continue
            for old in prop.renamed_from:
                if take(name, observed.named(old)):
                    break
        for name, prop in db.properties.items():
            if name in matched or prop.back_of is None:
                continue
            source_key, relation = prop.back_of
            source = self.seen.databases.get(source_key)
            synced_id = None
            if source is not None:
                source_match = self._source_relation(source_key, relation, source)
                if source_match is not None:
                    synced_id = source_match.config.get("synced_id")
            if synced_id and take(name, observed.properties.get(synced_id)):
                continue
            pid = ids.get(name)
            if pid and take(name, observed.properties.get(pid)):
                continue
            take(name, observed.named(name))
        return matched

    def _source_relation(
        self, source_key: str, relation: str, source: ObservedDatabase
    ) -> ObservedProperty | None:
        known = self.state.databases.get(source_key)
        prop = source.properties.get(known.properties.get(relation, "")) if known else None
        if prop is None:
            prop = source.named(relation)
        desired = self.ws.databases[source_key].properties[relation]
        if prop is None:
            for old in desired.renamed_from:
                prop = source.named(old)
                if prop is not None:
                    break
        return prop if prop is not None and prop.type == "relation" else None

    def properties_pass(self, key: str, db: DesiredDatabase, observed: ObservedDatabase) -> None:
        matched = self._match(key, db, observed)
        self.plan.bindings[key] = {name: prop.id for name, prop in matched.items()}
        known = self.state.databases.get(key)
        for name, prop in db.properties.items():
            current = matched.get(name)
            if current is None:
                if prop.back_of is not None:
                    source_key, relation = prop.back_of
                    if (
                        self.exists(source_key)
                        and (source_key, relation) not in self.provides
                        and self._source_relation(
                            source_key, relation, self.seen.databases[source_key]
                        )
                        is not None
                    ):
                        self.plan.notes.append(
                            f"{_address(key, name)}: the back property of {source_key}.{relation} was not found; "
                            "the relation is recreated two-way"
                        )
                    continue  # created by the relation on the other side
                if known is not None and name in known.properties and key not in self.seen.adopted:
                    self.plan.drift.append(
                        Change(
                            "delete",
                            _address(key, name),
                            f'property "{name}" was deleted outside devfactory',
                            database=key,
                        )
                    )
                self.change("create", key, f'property "{name}" ({_describe(prop)})', prop=name)
                self.add_op(
                    _Op(
                        key,
                        name,
                        property_payload(key, prop, name_back=self.name_back),
                        name,
                        _op_kind(prop),
                    ),
                    provides=name,
                )
                continue
            self._compare(key, db, name, prop, current)
        managed = set(known.properties.values()) if known is not None else set()
        wanted_ids = {p.id for p in matched.values()}
        for prop_id, current in observed.properties.items():
            if prop_id in wanted_ids:
                continue
            if prop_id in managed:
                self.change(
                    "delete",
                    key,
                    f'property "{current.name}" ({current.type}) — deletes the column and its data',
                    prop=current.name,
                    destructive=True,
                )
                self.add_op(_Op(key, prop_id, None, current.name, "plain"))
            elif not (current.type == "relation" and current.config.get("dual")):
                self.plan.notes.append(
                    f"{_address(key, current.name)}: not in the spec and not made by devfactory; left alone"
                )

    def _compare(
        self,
        key: str,
        db: DesiredDatabase,
        name: str,
        prop: DesiredProperty,
        current: ObservedProperty,
    ) -> None:
        entry: Json = {}
        details: list[str] = []
        destructive = False
        action = "update"
        if current.name != name:
            entry["name"] = name
            details.append(f'name: "{current.name}" -> "{name}" (in place, id {current.id})')
            known = self.state.databases.get(key)
            if (
                known is not None
                and known.properties.get(name) == current.id
                and key not in self.seen.adopted
                and current.name not in prop.renamed_from
            ):
                self.plan.drift.append(
                    Change(
                        "update",
                        _address(key, name),
                        f'renamed to "{current.name}" outside devfactory',
                        database=key,
                    )
                )
        if current.type != prop.type:
            if prop.back_of is not None:
                self.plan.notes.append(
                    f"{_address(key, name)}: is a {current.type}, expected the back property of a relation; left alone"
                )
                return
            entry.update(property_payload(key, prop, name_back=self.name_back))
            details.append(
                f"type: {current.type} -> {prop.type} (values are converted; some may be lost)"
            )
            destructive = True
            action = "replace"
        else:
            config_entry, config_details, config_destructive = self._config_diff(
                key, name, prop, current
            )
            entry.update(config_entry)
            details += config_details
            destructive = destructive or config_destructive
        if prop.back_of is None and (prop.description or None) != (current.description or None):
            entry["description"] = prop.description
            details.append(f"description: {current.description!r} -> {prop.description!r}")
        if not entry:
            return
        self.change(
            action, key, f'property "{name}"', prop=name, details=details, destructive=destructive
        )
        kind = (
            _op_kind(prop)
            if ("relation" in entry or "rollup" in entry or "formula" in entry)
            else "plain"
        )
        self.add_op(
            _Op(key, current.id, entry, name, kind),
            provides=name if "name" in entry or kind != "plain" else None,
        )

    def _config_diff(
        self, key: str, name: str, prop: DesiredProperty, current: ObservedProperty
    ) -> tuple[Json, list[str], bool]:
        kind = prop.type
        want, have = prop.config, current.config
        if kind == "number" and want["format"] != have["format"]:
            return (
                {"number": {"format": want["format"]}},
                [f"format: {have['format']} -> {want['format']}"],
                False,
            )
        if kind in ("select", "multi_select"):
            return self._options_diff(key, name, prop, current)
        if kind == "status" and want["options"] is not None:
            missing = [n for n in want["options"] if n not in have["options"]]
            extra = [n for n in have["options"] if n not in want["options"]]
            if extra:
                self.plan.notes.append(
                    f"{_address(key, name)}: status options {extra} are not in the spec; the API cannot remove them"
                )
            if missing:
                return (
                    {"status": {"options": [{"name": n} for n in missing]}},
                    [f"+ option {n!r}" for n in missing],
                    False,
                )
        if kind == "formula":
            names = {p.id: p.name for p in self.seen.databases[key].properties.values()}
            if normalise_expression(want["expression"], names) != normalise_expression(
                have["expression"], names
            ):
                return (
                    {"formula": {"expression": want["expression"]}},
                    [f"expression: {have['expression']} -> {want['expression']}"],
                    False,
                )
        if kind == "relation":
            return self._relation_diff(key, name, prop, current)
        if kind == "rollup" and (want["relation"], want["property"], want["function"]) != (
            have["relation"],
            have["property"],
            have["function"],
        ):
            body = {
                "relation_property_name": want["relation"],
                "rollup_property_name": want["property"],
                "function": want["function"],
            }
            detail = f"rollup: {have['function']} of {have['relation']}.{have['property']} -> {want['function']} of {want['relation']}.{want['property']}"
            return {"rollup": body}, [detail], False
        if kind == "unique_id" and want["prefix"] != have["prefix"]:
            if want["prefix"] is None:
                self.plan.notes.append(
                    f"{_address(key, name)}: the API cannot clear a unique_id prefix ({have['prefix']!r} stays)"
                )
            else:
                return (
                    {"unique_id": {"prefix": want["prefix"]}},
                    [f"prefix: {have['prefix']!r} -> {want['prefix']!r}"],
                    False,
                )
        return {}, [], False

    def _options_diff(
        self, key: str, name: str, prop: DesiredProperty, current: ObservedProperty
    ) -> tuple[Json, list[str], bool]:
        want = prop.config["options"]
        have = {o["name"]: o for o in current.config["options"]}
        wanted_names = [o["name"] for o in want]
        removed = [n for n in have if n not in wanted_names]
        added = [n for n in wanted_names if n not in have]
        for option in want:
            existing = have.get(option["name"])
            if (
                existing is not None
                and option.get("color")
                and existing.get("color") != option["color"]
            ):
                self.plan.notes.append(
                    f"{_address(key, name)}: option {option['name']!r} is {existing.get('color')}, not {option['color']}; "
                    "the API cannot recolour an option"
                )
        if not removed and not added:
            return {}, [], False
        options = []
        for option in want:
            existing = have.get(option["name"])
            if existing is not None:
                options.append({"id": existing["id"], "name": option["name"]})
            else:
                options.append(dict(option))
        if removed:
            self.plan.option_removals.append(
                {
                    "db": key,
                    "property": name,
                    "property_id": current.id,
                    "type": prop.type,
                    "options": removed,
                }
            )
        in_use = sorted(self.in_use_options.get((key, name), set()) & set(removed))
        details = [f"+ option {n!r}" for n in added] + [
            f"- option {n!r}{' (used by rows: their value is cleared)' if n in in_use else ''}"
            for n in removed
        ]
        return {prop.type: {"options": options}}, details, bool(in_use)

    def _relation_diff(
        self, key: str, name: str, prop: DesiredProperty, current: ObservedProperty
    ) -> tuple[Json, list[str], bool]:
        want, have = prop.config, current.config
        if prop.back_of is not None:
            return {}, [], False
        if want["to"] != have["to"]:
            entry = property_payload(key, prop, name_back=self.name_back)
            gone = str(have["to"]).removeprefix("ds:") in self.seen.missing_data_sources
            if gone:  # its target was deleted: nothing is left to lose
                return entry, [f"target: (deleted) -> {want['to']}"], False
            return entry, [f"target: {have['to']} -> {want['to']} (links are lost)"], True
        if want["dual"] != have["dual"]:
            entry = property_payload(key, prop, name_back=self.name_back)
            return (
                entry,
                [f"{'one-way -> two-way' if want['dual'] else 'two-way -> one-way'}"],
                False,
            )
        return {}, [], False

    def dependency_pass(self) -> None:
        """Wire op dependencies: rollups on their relations, formulas on their inputs,
        relations on their target's data source, back-property renames on the relation."""
        for index, op in enumerate(self.ops):
            if op.kind == "meta" or op.value is None:
                continue
            db = self.ws.databases[op.db]
            prop = db.properties.get(op.name)
            if prop is None:
                continue
            if prop.type == "relation" and prop.back_of is None and op.kind == "relation":
                op.needs.add(prop.config["to"])
            for name in prop.depends_on():
                provider = self.provides.get((op.db, name))
                if provider is not None and provider != index:
                    op.deps.add(provider)
                back = db.properties.get(name)
                if back is not None and back.back_of is not None:
                    source = self.provides.get(back.back_of)
                    if source is not None:
                        op.deps.add(source)
            if prop.type == "rollup":
                target_key = self._rollup_target(db, prop)
                if target_key is not None:
                    provider = self.provides.get((target_key, prop.config["property"]))
                    if provider is not None:
                        op.deps.add(provider)
                    back = self.ws.databases[target_key].properties.get(prop.config["property"])
                    if (
                        back is not None
                        and back.back_of is not None
                        and back.back_of in self.provides
                    ):
                        op.deps.add(self.provides[back.back_of])
        if not self.name_back:
            self._back_renames()

    def _rollup_target(self, db: DesiredDatabase, prop: DesiredProperty) -> str | None:
        relation = db.properties.get(prop.config["relation"])
        if relation is None or relation.type != "relation":
            return None
        return str(relation.config["to"])

    def _back_renames(self) -> None:
        """Targets that do not name back properties on request get a rename after the relation."""
        for index, op in list(enumerate(self.ops)):
            prop = self.ws.databases[op.db].properties.get(op.name)
            if (
                op.kind != "relation"
                or prop is None
                or not prop.config.get("dual")
                or not prop.config.get("synced_as")
            ):
                continue
            target = prop.config["to"]
            key = "$ref:" + json.dumps(ref("prop", db=target, name=prop.config["synced_as"]))
            rename = _Op(
                target,
                key,
                {"name": prop.config["synced_as"]},
                prop.config["synced_as"],
                "plain",
                deps={index},
            )
            self.add_op(rename, provides=prop.config["synced_as"])

    # ------------------------------------------------------------------ scheduling

    def schedule_schema(self) -> None:
        done: set[int] = set()
        existing = set(self.seen.databases)
        order = self._creation_order()
        for key in order:
            db = self.ws.databases[key]
            # a relation to itself needs its own data source id: not in the create
            absorbed = self._absorb(key, done, existing, creating=True)
            properties = {self.ops[i].key: self.ops[i].value for i in absorbed}
            payload: Json = {
                "parent": {"type": "page_id", "page_id": ref("parent")},
                "title": rich_text(db.title),
                "is_inline": db.inline,
                "initial_data_source": {"properties": properties},
            }
            if db.description:
                payload["description"] = rich_text(db.description)
            if db.icon:
                payload["icon"] = icon_payload(db.icon)
            self.plan.steps.append(
                Step("create_database", f"create database {key}", payload, database=key,
                     names=[self.ops[i].name for i in absorbed], backs=self._backs(absorbed))
            )  # fmt: skip
            done.update(absorbed)
            existing.add(key)
        remaining = [i for i in range(len(self.ops)) if i not in done]
        for group in self._patch_groups(remaining, done):
            key = self.ops[group[0]].db
            payload = {"data_source": ref("ds", db=key)}
            changes: Json = {}
            for i in group:
                op = self.ops[i]
                if op.kind == "meta":
                    payload.update(op.value or {})
                else:
                    changes[op.key] = op.value
            if changes:
                payload["properties"] = changes
            names = [self.ops[i].name for i in group if self.ops[i].kind != "meta"]
            self.plan.steps.append(
                Step("update_data_source", f"update data source {key}", payload, database=key,
                     names=names, backs=self._backs(group))
            )  # fmt: skip

    def _backs(self, indexes: list[int]) -> list[list[str]]:
        backs = []
        for i in indexes:
            op = self.ops[i]
            prop = self.ws.databases[op.db].properties.get(op.name)
            if (
                op.kind == "relation"
                and prop is not None
                and prop.back_of is None
                and prop.config.get("dual")
            ):
                target = str(prop.config["to"])
                back_name = next(
                    (
                        n
                        for n, p in self.ws.databases[target].properties.items()
                        if p.back_of == (op.db, op.name)
                    ),
                    None,
                )
                if back_name is not None:
                    backs.append([op.name, target, back_name])
        return backs

    def _creation_order(self) -> list[str]:
        """New databases, relation targets first (spec order inside a cycle)."""
        needs: dict[str, set[str]] = {key: set() for key in self.new_dbs}
        for op in self.ops:
            if op.db not in needs:
                continue
            prop = self.ws.databases[op.db].properties.get(op.name)
            if prop is not None and prop.type == "relation":
                target = prop.config["to"]
                if target in needs and target != op.db:
                    needs[op.db].add(target)
        order: list[str] = []
        visiting: set[str] = set()

        def visit(key: str) -> None:
            if key in order or key in visiting:
                return
            visiting.add(key)
            for dep in sorted(needs[key], key=self.new_dbs.index):
                visit(dep)
            visiting.discard(key)
            order.append(key)

        for key in self.new_dbs:
            visit(key)
        return order

    def _absorb(self, key: str, done: set[int], existing: set[str], *, creating: bool) -> list[int]:
        """Ops of ``key`` that can go in its create: dependencies done or in the same request."""
        chosen: list[int] = []
        progress = True
        while progress:
            progress = False
            for index, op in enumerate(self.ops):
                if op.db != key or index in done or index in chosen or op.kind == "meta":
                    continue
                if not op.needs <= existing:
                    continue
                if creating and not self.name_back and op.kind == "relation":
                    continue  # its back property's id comes only with a data source answer
                ok = True
                for dep in op.deps:
                    if dep in done:
                        continue
                    if dep in chosen and self.same_request and self.ops[dep].db == key:
                        continue
                    ok = False
                    break
                if ok:
                    chosen.append(index)
                    progress = True
        return chosen

    def _patch_groups(self, remaining: list[int], done: set[int]) -> list[list[int]]:
        """Group the remaining ops into as few PATCH calls as their dependencies allow."""
        if not remaining:
            return []
        pending = set(remaining)
        dbs = list(dict.fromkeys(self.ops[i].db for i in remaining))
        edges: dict[str, set[str]] = {db: set() for db in dbs}
        for i in remaining:
            for dep in self.ops[i].deps:
                if dep in pending and self.ops[dep].db != self.ops[i].db:
                    edges[self.ops[i].db].add(self.ops[dep].db)
        groups: list[list[int]] = []
        for component in _components(dbs, edges):
            members = set(component)
            ops = [i for i in remaining if self.ops[i].db in members]
            layer = self._layers(ops, pending)
            if len(component) == 1 and self.same_request:
                groups.append(sorted(ops, key=lambda i: (layer[i], i)))
                continue
            for level in sorted(set(layer.values())):
                for db in component:
                    group = [i for i in ops if layer[i] == level and self.ops[i].db == db]
                    if group:
                        groups.append(group)
        return groups

    def _layers(self, ops: list[int], pending: set[int]) -> dict[int, int]:
        """Each op's call layer: after its dependencies (the same call allowed for
        dependencies on the same data source when the target orders them itself)."""
        layer: dict[int, int] = {}

        def layer_of(i: int, trail: frozenset[int]) -> int:
            if i in layer:
                return layer[i]
            level = 0
            for dep in self.ops[i].deps:
                if dep not in pending or dep in trail:
                    continue
                same = self.ops[dep].db == self.ops[i].db
                level = max(
                    level, layer_of(dep, trail | {i}) + (0 if same and self.same_request else 1)
                )
            layer[i] = level
            return level

        for i in ops:
            layer_of(i, frozenset())
        return layer

    # ------------------------------------------------------------------ rows

    def rows_pass(self) -> None:
        creates: list[tuple[str, str, dict[str, Any]]] = []
        for key, db in self.ws.databases.items():
            title_prop = db.title_property
            known = self.state.databases.get(key)
            known_rows = known.rows if known is not None and key not in self.seen.missing else {}
            found = self.seen.rows.get(key, {})
            for row in db.rows:
                title = str(row.get(title_prop, ""))
                digest = row_hash(row)
                if title in known_rows:
                    if known_rows[title].hash != digest:
                        self.change("update", key, f'row "{title}"', row=title)
                        self.plan.steps.append(self._row_step("update_page", key, db, row, title))
                elif title in found:
                    self.change(
                        "adopt",
                        key,
                        f'adopt existing row "{title}" and write its values',
                        row=title,
                    )
                    self.plan.adopted.setdefault("rows", {}).setdefault(key, {})[title] = found[
                        title
                    ]
                    self.plan.steps.append(self._row_step("update_page", key, db, row, title))
                else:
                    creates.append((key, title, row))
        exists = {(k, t) for k, db in self.ws.databases.items() for t in self._titles(k)}
        pending = {(k, t) for k, t, _ in creates}
        ready = exists - pending
        order: list[tuple[str, str, dict[str, Any]]] = []
        deferred: list[tuple[str, str, dict[str, Any], frozenset[str]]] = []
        queue = list(creates)
        while queue:
            progressed = False
            for item in list(queue):
                key, title, row = item
                if self._row_targets(key, row) <= ready:
                    order.append(item)
                    ready.add((key, title))
                    queue.remove(item)
                    progressed = True
            if not progressed:  # a cycle of row relations: create one without them, link later
                key, title, row = queue.pop(0)
                skip = frozenset(
                    n
                    for n, p in self.ws.databases[key].properties.items()
                    if p.type == "relation" and n in row
                )
                order.append((key, title, row))
                deferred.append((key, title, row, skip))
                ready.add((key, title))
        skips = {(k, t): s for k, t, _, s in deferred}
        for key, title, row in order:
            db = self.ws.databases[key]
            self.change("create", key, f'row "{title}"', row=title)
            step = self._row_step(
                "create_page", key, db, row, title, skip=skips.get((key, title), frozenset())
            )
            self.plan.steps.append(step)
        for key, title, row, skip in deferred:
            db = self.ws.databases[key]
            values = {n: v for n, v in row.items() if n in skip}
            values[db.title_property] = title
            step = Step(
                "update_page",
                f"link row {key}/{title}",
                {"page": ref("row", db=key, title=title), "properties": row_payload(db, values)},
                database=key,
                row=title,
            )
            step.payload["hash"] = row_hash(row)
            self.plan.steps.append(step)

    def _titles(self, key: str) -> set[str]:
        known = self.state.databases.get(key)
        titles = set(known.rows) if known is not None and key not in self.seen.missing else set()
        return titles | set(self.seen.rows.get(key, {}))

    def _row_targets(self, key: str, row: dict[str, Any]) -> set[tuple[str, str]]:
        db = self.ws.databases[key]
        targets: set[tuple[str, str]] = set()
        for name, value in row.items():
            prop = db.properties.get(name)
            if prop is None or prop.type != "relation":
                continue
            titles = value if isinstance(value, list) else ([] if value in (None, "") else [value])
            targets.update((prop.config["to"], str(t)) for t in titles)
        return targets

    def _row_step(
        self,
        kind: str,
        key: str,
        db: DesiredDatabase,
        row: dict[str, Any],
        title: str,
        *,
        skip: frozenset[str] = frozenset(),
    ) -> Step:
        properties = row_payload(db, row, skip=skip)
        if kind == "create_page":
            payload: Json = {
                "parent": {"type": "data_source_id", "data_source_id": ref("ds", db=key)},
                "properties": properties,
            }
        else:
            payload = {"page": ref("row", db=key, title=title), "properties": properties}
        payload["hash"] = row_hash(row) if not skip else ""
        verb = "create" if kind == "create_page" else "update"
        return Step(kind, f"{verb} row {key}/{title}", payload, database=key, row=title)

    def notes_pass(self) -> None:
        for key, known in self.state.databases.items():
            if key not in self.ws.databases:
                self.plan.notes.append(
                    f"databases.{key}: no longer in the spec; left in Notion (devfactory never deletes a database) "
                    "and forgotten by the state"
                )
                continue
            titles = {
                str(r.get(self.ws.databases[key].title_property, ""))
                for r in self.ws.databases[key].rows
            }
            for title in known.rows:
                if title not in titles:
                    self.plan.notes.append(
                        f'databases.{key}.rows["{title}"]: no longer a seed row; the page stays'
                    )


def _components(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components in dependency order (Tarjan), members in input order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = [0]

    def strong(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(edges[node], key=nodes.index):
            if dep not in index:
                strong(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            result.append(sorted(component, key=nodes.index))

    for node in nodes:
        if node not in index:
            strong(node)
    return result


def make_plan(
    ws: DesiredWorkspace,
    state: State,
    seen: Observation,
    *,
    name_back: bool,
    same_request: bool | None = None,
    in_use_options: dict[tuple[str, str], set[str]] | None = None,
) -> Plan:
    """The plan to go from ``seen`` (and ``state``) to ``ws``.

    ``name_back``: the target names a two-way relation's back property when asked (the
    local server does); otherwise a rename call follows. ``same_request``: the target
    creates a relation and the rollups and formulas over it in one request (defaults to
    ``name_back``: the local server does both, real Notion is not relied on for either).
    """
    planner = _Planner(
        ws,
        state,
        seen,
        name_back=name_back,
        same_request=name_back if same_request is None else same_request,
    )
    planner.in_use_options = in_use_options or {}
    return planner.run()


def computed(prop: DesiredProperty) -> bool:
    """Whether a property's values are computed by Notion."""
    return prop.type in COMPUTED_TYPES
