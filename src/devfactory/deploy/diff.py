"""Compare the desired workspace with what Notion has: changes for people, ops for the schedule.

:class:`Differ` walks database by database and property by property. Properties are matched
by the id the state remembers, then by ``renamed_from``, then by name; back properties of
two-way relations through their relation's synced id. Every difference becomes a
:class:`~devfactory.deploy.plan.Change` (what a person reads) and, for schema changes, an
:class:`Op` — one entry of a data source's ``properties`` payload, with the ops it depends
on — that :mod:`devfactory.deploy.order` turns into the fewest calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from devfactory.deploy.desired import (
    DesiredDatabase,
    DesiredProperty,
    DesiredWorkspace,
    icon_payload,
    property_payload,
    ref,
    rich_text,
    root_title,
)
from devfactory.deploy.observe import (
    Observation,
    ObservedDatabase,
    ObservedProperty,
    normalise_expression,
)
from devfactory.deploy.plan import Change, Plan, Step
from devfactory.deploy.state import State

__all__ = ["Differ", "Op", "address"]

Json = dict[str, Any]


@dataclass
class Op:
    """One entry of a data source's ``properties`` payload (or a title/icon change)."""

    db: str
    key: str
    value: Json | None
    name: str
    kind: str  # plain | relation | rollup | formula | meta
    deps: set[int] = field(default_factory=set)
    needs: set[str] = field(default_factory=set)


def address(db: str, prop: str | None = None, row: str | None = None) -> str:
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


class Differ:
    """The differences of one plan; its passes share a lot of context, hence an object."""

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
        self.ops: list[Op] = []
        # (db, property name) -> op index that creates or renames it in this plan
        self.provides: dict[tuple[str, str], int] = {}
        self.new_dbs: list[str] = []
        self.in_use_options: dict[tuple[str, str], set[str]] = {}

    def change(self, action: str, db: str, summary: str, *, prop: str | None = None, row: str | None = None,
               details: Iterable[str] = (), destructive: bool = False) -> Change:  # fmt: skip
        change = Change(action, address(db, prop, row), summary, list(details), destructive, db)
        self.plan.changes.append(change)
        if destructive and self.ws.databases[db].protect:
            self.plan.refused.append(
                f"{change.address}: {summary} — database {db!r} is protected (protect: true); "
                "remove `protect` from the spec to allow destructive changes"
            )
        return change

    def add_op(self, op: Op, provides: str | None = None) -> int:
        self.ops.append(op)
        index = len(self.ops) - 1
        if provides is not None:
            self.provides[(op.db, provides)] = index
        return index

    def add_create_op(self, key: str, name: str, prop: DesiredProperty) -> int:
        """The schema operation that creates property ``name`` of database ``key``."""
        payload = property_payload(key, prop, name_back=self.name_back)
        return self.add_op(Op(key, name, payload, name, _op_kind(prop)), provides=name)

    def exists(self, db: str) -> bool:
        return db in self.seen.databases

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
                    Change("delete", address(key), f'database "{db.title}" is gone', database=key)
                )
            self.new_dbs.append(key)
            for name, prop in db.properties.items():
                if prop.back_of is None:
                    self.add_create_op(key, name, prop)
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
            self.add_op(Op(key, "__title__", {"title": rich_text(db.title)}, "__title__", "meta"))
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
                            f"{address(key, name)}: the back property of {source_key}.{relation} was not found; "
                            "the relation is recreated two-way"
                        )
                    continue  # created by the relation on the other side
                if known is not None and name in known.properties and key not in self.seen.adopted:
                    self.plan.drift.append(
                        Change(
                            "delete",
                            address(key, name),
                            f'property "{name}" was deleted outside devfactory',
                            database=key,
                        )
                    )
                self.change("create", key, f'property "{name}" ({_describe(prop)})', prop=name)
                self.add_create_op(key, name, prop)
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
                self.add_op(Op(key, prop_id, None, current.name, "plain"))
            elif not (current.type == "relation" and current.config.get("dual")):
                self.plan.notes.append(
                    f"{address(key, current.name)}: not in the spec and not made by devfactory; left alone"
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
                        address(key, name),
                        f'renamed to "{current.name}" outside devfactory',
                        database=key,
                    )
                )
        if current.type != prop.type:
            if prop.back_of is not None:
                self.plan.notes.append(
                    f"{address(key, name)}: is a {current.type}, expected the back property of a relation; left alone"
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
            Op(key, current.id, entry, name, kind),
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
                    f"{address(key, name)}: status options {extra} are not in the spec; the API cannot remove them"
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
                    f"{address(key, name)}: the API cannot clear a unique_id prefix ({have['prefix']!r} stays)"
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
                    f"{address(key, name)}: option {option['name']!r} is {existing.get('color')}, not {option['color']}; "
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
            rename = Op(
                target,
                key,
                {"name": prop.config["synced_as"]},
                prop.config["synced_as"],
                "plain",
                deps={index},
            )
            self.add_op(rename, provides=prop.config["synced_as"])

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
