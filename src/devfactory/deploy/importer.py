"""Adopt existing Notion databases: write the spec that describes them, and the state that
binds it to them, so that planning the imported spec shows no changes.

Database keys come from titles (``Pipeline Projects`` → ``pipeline_projects``); a two-way
relation is written once, on the side met first, with ``synced_as`` naming the other side;
relations to data sources that are not imported, and property types a spec cannot declare,
are left out with a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from devfactory.deploy.desired import default_back_name
from devfactory.deploy.observe import named_expression, plain
from devfactory.deploy.state import DatabaseState, State
from devfactory.notion.api import Idempotency, NotionAPI
from devfactory.notion.target import NotionSession
from devfactory.spec.model import API_VERSION, SIMPLE_TYPES

__all__ = ["Imported", "import_workspace", "key_for"]

Json = dict[str, Any]


@dataclass
class Imported:
    """The spec (plain data, ready for YAML), its state, and what was left out."""

    spec: Json
    state: State
    warnings: list[str] = field(default_factory=list)


def key_for(title: str, taken: set[str]) -> str:
    """A database key from a title: lower case, ``_`` between words, unique."""
    base = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_") or "database"
    if not base[0].isalpha():
        base = f"db_{base}"
    base = base[:60]
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


async def _data_sources(
    session: NotionSession, api: NotionAPI, ids: list[str] | None
) -> list[Json]:
    if ids:
        return [
            await api.call(
                partial(session.client.data_sources.retrieve, i),
                idempotency=Idempotency.SAFE,
                label="retrieve data source",
            )
            for i in ids
        ]
    found = await api.results(
        session.client.search,
        "search data sources",
        filter={"property": "object", "value": "data_source"},
    )
    return [r for r in found if not r.get("in_trash", r.get("archived", False))]


def _icon(icon: Json | None) -> str | None:
    if not icon:
        return None
    if icon.get("type") == "emoji":
        return str(icon["emoji"])
    body = icon.get(icon.get("type", ""), {})
    return str(body["url"]) if isinstance(body, dict) and body.get("url") else None


def _options(options: list[Json]) -> list[Any]:
    return [
        {"name": o["name"], "color": o["color"]}
        if o.get("color") and o["color"] != "default"
        else o["name"]
        for o in options
    ]


def _available(spec_dbs: Json) -> dict[str, set[str]]:
    """Property names each database will have: declared ones and back properties."""
    available = {key: set(db["properties"]) for key, db in spec_dbs.items()}
    for db in spec_dbs.values():
        for name, entry in db["properties"].items():
            if (
                isinstance(entry, dict)
                and entry.get("type") == "relation"
                and (entry.get("synced_as") or entry.get("dual"))
            ):
                available[entry["to"]].add(
                    entry.get("synced_as") or default_back_name(db["title"], name)
                )
    return available


def _relation_target(spec_dbs: Json, key: str, relation: str) -> str | None:
    entry = spec_dbs[key]["properties"].get(relation)
    if isinstance(entry, dict) and entry.get("type") == "relation":
        return str(entry["to"])
    for other, db in spec_dbs.items():  # a back property: declared on the other side
        for name, item in db["properties"].items():
            if (
                isinstance(item, dict)
                and item.get("type") == "relation"
                and item.get("to") == key
                and (item.get("synced_as") or default_back_name(db["title"], name)) == relation
            ):
                return str(other)
    return None


def _prune(spec_dbs: Json) -> list[tuple[str, str]]:
    """Drop rollups and formulas over properties that were left out, until none remain."""
    from devfactory.emulator.formula import compile_formula
    from devfactory.errors import FormulaError

    pruned: list[tuple[str, str]] = []
    while True:
        available = _available(spec_dbs)
        dropped = []
        for key, db in spec_dbs.items():
            for name, entry in db["properties"].items():
                if not isinstance(entry, dict):
                    continue
                if entry.get("type") == "rollup":
                    target = _relation_target(spec_dbs, key, str(entry["relation"]))
                    if target is None or entry["property"] not in available[target]:
                        dropped.append((key, name))
                elif entry.get("type") == "formula":
                    try:
                        references = compile_formula(entry["expression"]).references
                    except FormulaError:
                        references = frozenset()
                    if not references <= available[key]:
                        dropped.append((key, name))
        if not dropped:
            return pruned
        for key, name in dropped:
            del spec_dbs[key]["properties"][name]
        pruned += dropped


async def import_workspace(
    session: NotionSession,
    api: NotionAPI,
    *,
    data_source_ids: list[str] | None,
    workspace: str,
    environment: str,
) -> Imported:
    """Read data sources (the given ones, or every one the integration sees) into a spec."""
    sources = await _data_sources(session, api, data_source_ids)
    keys: dict[str, str] = {}
    databases: dict[str, Json] = {}
    taken: set[str] = set()
    for ds in sources:
        db = await api.call(
            partial(session.client.databases.retrieve, ds["parent"]["database_id"]),
            idempotency=Idempotency.SAFE,
            label="retrieve database",
        )
        key = key_for(plain(db.get("title")) or plain(ds.get("title")), taken)
        taken.add(key)
        keys[ds["id"]] = key
        databases[key] = {"ds": ds, "db": db}
    state = State(workspace=workspace, environment=environment, target=session.target.label)
    imported = Imported({}, state)
    spec_dbs: dict[str, Json] = {}
    written_pairs: set[frozenset[tuple[str, str]]] = set()
    parents: dict[str, int] = {}
    for key, pair in databases.items():
        ds, db = pair["ds"], pair["db"]
        parent = db.get("parent", {})
        if parent.get("type") == "page_id":
            parents[parent["page_id"]] = parents.get(parent["page_id"], 0) + 1
        names_by_id = {p["id"]: n for n, p in ds["properties"].items()}
        properties: Json = {}
        ids: dict[str, str] = {}
        for name, prop in ds["properties"].items():
            kind = prop["type"]
            body = prop.get(kind) or {}
            ids[name] = prop["id"]
            entry: Any
            if kind in SIMPLE_TYPES:
                entry = kind
            elif kind == "number":
                entry = (
                    "number"
                    if body.get("format", "number") == "number"
                    else {"type": "number", "format": body["format"]}
                )
            elif kind in ("select", "multi_select"):
                entry = {"type": kind, "options": _options(body.get("options", []))}
            elif kind == "status":
                entry = {"type": "status", "options": [o["name"] for o in body.get("options", [])]}
            elif kind == "formula":
                expression = named_expression(body.get("expression", ""), names_by_id)
                entry = {"type": "formula", "expression": expression}
            elif kind == "relation":
                target = keys.get(body.get("data_source_id", ""))
                if target is None:
                    imported.warnings.append(
                        f"{key}.{name}: relation to a data source that is not imported; left out"
                    )
                    del ids[name]
                    continue
                entry = {"type": "relation", "to": target}
                if body.get("type") == "dual_property":
                    back = (body.get("dual_property") or {}).get("synced_property_name")
                    pair_id = frozenset([(key, name), (target, back or "")])
                    if pair_id in written_pairs:
                        continue  # the other side declares it
                    written_pairs.add(pair_id)
                    if back:
                        entry["synced_as"] = back
                    else:
                        entry["dual"] = True
            elif kind == "rollup":
                entry = {
                    "type": "rollup",
                    "relation": body.get("relation_property_name"),
                    "property": body.get("rollup_property_name"),
                    "function": body.get("function"),
                }
            elif kind == "unique_id":
                entry = (
                    {"type": "unique_id", "prefix": body["prefix"]}
                    if body.get("prefix")
                    else "unique_id"
                )
            else:
                imported.warnings.append(
                    f"{key}.{name}: a {kind} property cannot be declared in a spec; left out"
                )
                del ids[name]
                continue
            if prop.get("description"):
                entry = {"type": entry} if isinstance(entry, str) else entry
                entry["description"] = prop["description"]
            properties[name] = entry
        spec_db: Json = {"title": plain(db.get("title")) or plain(ds.get("title"))}
        icon = _icon(db.get("icon"))
        if icon:
            spec_db["icon"] = icon
        description = plain(db.get("description"))
        if description:
            spec_db["description"] = description
        if db.get("is_inline"):
            spec_db["inline"] = True
        spec_db["properties"] = properties
        spec_dbs[key] = spec_db
        state.databases[key] = DatabaseState(
            database_id=db["id"],
            data_source_id=ds["id"],
            properties=ids,
            description=description or None,
            icon=icon,
        )
    for key, name in _prune(spec_dbs):
        imported.warnings.append(f"{key}.{name}: depends on something left out; left out too")
        state.databases[key].properties.pop(name, None)
    spec: Json = {"apiVersion": API_VERSION, "workspace": workspace}
    if parents:
        page_id = max(parents, key=lambda p: parents[p])
        spec["parent"] = {"page_id": page_id}
        if len(parents) > 1:
            imported.warnings.append(
                f"the databases live under {len(parents)} pages; the spec names {page_id}"
            )
    spec["databases"] = spec_dbs
    imported.spec = spec
    return imported
