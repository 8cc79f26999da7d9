"""Schedule a plan's changes into the fewest API calls, each step exactly one call.

1. the root page (if devfactory makes one), then every new database, each created with
   every property whose dependencies already exist — relation targets are created first;
2. what is left (relations to databases created later, rollups over back properties,
   formulas over those) goes into ``PATCH /v1/data_sources`` calls: one per database when
   the dependencies between databases allow it, more only inside a dependency cycle;
3. seed rows, in the order their relation values need, with a second write only to close a
   cycle of row relations.
"""

from __future__ import annotations

from typing import Any

from devfactory.deploy.desired import (
    DesiredDatabase,
    icon_payload,
    ref,
    rich_text,
    row_hash,
    row_payload,
)
from devfactory.deploy.diff import Differ
from devfactory.deploy.plan import Step

__all__ = ["Orderer"]

Json = dict[str, Any]


class Orderer:
    """Turns a :class:`~devfactory.deploy.diff.Differ`'s ops and rows into steps."""

    def __init__(self, differ: Differ) -> None:
        self.d = differ
        self.ws = differ.ws
        self.state = differ.state
        self.seen = differ.seen
        self.plan = differ.plan
        self.ops = differ.ops
        self.name_back = differ.name_back
        self.same_request = differ.same_request

    def schedule_schema(self, order: list[str] | None = None) -> None:
        """Steps for the schema: creates (in ``order``, else relation targets first), then
        the data source updates that are left."""
        done: set[int] = set()
        existing = set(self.seen.databases)
        order = order if order is not None else self._creation_order()
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
        needs: dict[str, set[str]] = {key: set() for key in self.d.new_dbs}
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
            for dep in sorted(needs[key], key=self.d.new_dbs.index):
                visit(dep)
            visiting.discard(key)
            order.append(key)

        for key in self.d.new_dbs:
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
                    if known_rows[title].hash == digest:
                        continue
                    if known_rows[title].hash == row_hash(self._old_names(key, row)):
                        self.plan.row_hashes.setdefault(key, {})[title] = digest
                    else:
                        self.d.change("update", key, f'row "{title}"', row=title)
                        self.plan.steps.append(self._row_step("update_page", key, db, row, title))
                elif title in found:
                    self.d.change(
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
            self.d.change("create", key, f'row "{title}"', row=title)
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

    def _old_names(self, key: str, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` under the names its properties had at the last apply: a property renamed
        since (in the spec or in Notion) keeps its id, so the row's values are unchanged."""
        known = self.state.databases.get(key)
        if known is None:
            return row
        now = self.plan.bindings.get(key, {})
        before: dict[str, str] = {}
        for name, prop_id in known.properties.items():
            if now.get(name) != prop_id:
                before.setdefault(prop_id, name)
        return {before.get(now.get(name, ""), name): value for name, value in row.items()}

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
