"""What the spec asks for, normalised so it compares with what Notion has.

:func:`desired_workspace` turns a validated :class:`~devfactory.spec.model.Spec` into plain
data: each database's properties with a normalised ``config`` (the same shape
:mod:`devfactory.deploy.observe` derives from Notion's answers), including the back
properties that two-way relations create on the other database. :func:`property_payload`
and :func:`row_payload` turn that data into Notion request bodies, with ``{"$ref": …}``
placeholders for ids known only when the apply runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from devfactory.spec.model import (
    DatabaseSpec,
    FormulaProperty,
    NumberProperty,
    RelationProperty,
    RollupProperty,
    SelectProperty,
    Spec,
    StatusProperty,
    UniqueIdProperty,
)

__all__ = [
    "COMPUTED_TYPES",
    "DesiredDatabase",
    "DesiredProperty",
    "DesiredWorkspace",
    "default_back_name",
    "desired_workspace",
    "icon_payload",
    "property_payload",
    "ref",
    "rich_text",
    "root_title",
    "row_hash",
    "row_payload",
]

COMPUTED_TYPES = frozenset(
    [
        "formula",
        "rollup",
        "created_time",
        "created_by",
        "last_edited_time",
        "last_edited_by",
        "unique_id",
    ]
)
Json = dict[str, Any]


@dataclass(frozen=True)
class DesiredProperty:
    """A property as the spec wants it. ``back_of`` marks the property a two-way relation of
    another database creates here: (source database key, source relation name)."""

    name: str
    type: str
    config: Json
    description: str | None = None
    renamed_from: tuple[str, ...] = ()
    back_of: tuple[str, str] | None = None

    def depends_on(self) -> set[str]:
        """Names of properties of the same database this one needs to exist first."""
        if self.type == "rollup":
            return {self.config["relation"]}
        if self.type == "formula":
            from devfactory.emulator.formula import compile_formula
            from devfactory.errors import FormulaError

            try:
                return set(compile_formula(self.config["expression"]).references)
            except FormulaError:
                return set()
        return set()


@dataclass
class DesiredDatabase:
    """A database as the spec wants it."""

    key: str
    title: str
    icon: str | None
    description: str | None
    inline: bool
    protect: bool
    properties: dict[str, DesiredProperty]
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def title_property(self) -> str:
        """Name of the title property."""
        return next(name for name, prop in self.properties.items() if prop.type == "title")


@dataclass
class DesiredWorkspace:
    """The whole desired workspace, in spec order."""

    workspace: str
    environment: str
    parent_page_id: str | None
    databases: dict[str, DesiredDatabase]
    spec_hash: str


def ref(kind: str, **fields: str) -> Json:
    """A placeholder resolved from the state when the step runs."""
    return {"$ref": kind, **fields}


def rich_text(text: str) -> list[Json]:
    """Plain text as Notion rich text (split in 2,000-character items)."""
    if not text:
        return []
    return [
        {"type": "text", "text": {"content": text[i : i + 2000]}} for i in range(0, len(text), 2000)
    ]


def icon_payload(icon: str | None) -> Json | None:
    """An emoji or an image URL as a Notion icon."""
    if icon is None:
        return None
    if icon.startswith(("http://", "https://")):
        return {"type": "external", "external": {"url": icon}}
    return {"type": "emoji", "emoji": icon}


def default_back_name(source_title: str, relation: str) -> str:
    """The name Notion gives the back property of a two-way relation."""
    return f"Related to {source_title} ({relation})"


def root_title(workspace: str, environment: str) -> str:
    """Title of the root page devfactory makes when a spec names no parent."""
    return workspace if environment == "default" else f"{workspace} ({environment})"


def _normalise_options(options: Any) -> list[Json]:
    out = []
    for option in options or []:
        item: Json = {"name": option.name}
        if option.color is not None:
            item["color"] = option.color
        if option.description is not None:
            item["description"] = option.description
        out.append(item)
    return out


def _config(prop: Any) -> Json:
    if isinstance(prop, NumberProperty):
        return {"format": prop.format}
    if isinstance(prop, SelectProperty):
        return {"options": _normalise_options(prop.options)}
    if isinstance(prop, StatusProperty):
        return {"options": None if prop.options is None else [o.name for o in prop.options]}
    if isinstance(prop, FormulaProperty):
        return {"expression": prop.expression}
    if isinstance(prop, RelationProperty):
        return {"to": prop.to, "dual": prop.is_dual, "synced_as": prop.synced_as}
    if isinstance(prop, RollupProperty):
        return {"relation": prop.relation, "property": prop.property, "function": prop.function}
    if isinstance(prop, UniqueIdProperty):
        return {"prefix": prop.prefix}
    return {}


def _database(key: str, db: DatabaseSpec) -> DesiredDatabase:
    properties = {
        name: DesiredProperty(
            name=name,
            type=prop.type,
            config=_config(prop),
            description=prop.description,
            renamed_from=tuple(prop.renamed_from),
        )
        for name, prop in db.properties.items()
    }
    return DesiredDatabase(
        key=key,
        title=db.title,
        icon=db.icon,
        description=db.description,
        inline=db.inline,
        protect=db.protect,
        properties=properties,
        rows=[dict(row) for row in db.rows],
    )


def desired_workspace(spec: Spec, environment: str = "default") -> DesiredWorkspace:
    """The normalised desired state of a validated spec."""
    databases = {key: _database(key, db) for key, db in spec.databases.items()}
    for key, db in databases.items():
        for name, prop in list(db.properties.items()):
            if prop.type != "relation" or not prop.config["dual"] or prop.back_of is not None:
                continue  # back properties made here are not relations to mirror again
            target = databases[prop.config["to"]]
            back_name = prop.config["synced_as"] or default_back_name(db.title, name)
            target.properties[back_name] = DesiredProperty(
                name=back_name,
                type="relation",
                config={"to": key, "dual": True, "synced_as": name},
                back_of=(key, name),
            )
    digest = hashlib.sha256(
        json.dumps(spec.model_dump(mode="json", by_alias=True), sort_keys=True).encode()
    ).hexdigest()
    return DesiredWorkspace(
        workspace=spec.workspace,
        environment=environment,
        parent_page_id=spec.parent.page_id if spec.parent else None,
        databases=databases,
        spec_hash=digest,
    )


def property_payload(db_key: str, prop: DesiredProperty, *, name_back: bool) -> Json:
    """The Notion request config that creates ``prop`` (``name_back``: ask Notion to name
    the back property of a two-way relation, for targets that honour it)."""
    config = prop.config
    kind = prop.type
    body: Json
    if kind == "number":
        body = {"format": config["format"]}
    elif kind in ("select", "multi_select"):
        body = {"options": [dict(o) for o in config["options"]]}
    elif kind == "status":
        body = (
            {}
            if config["options"] is None
            else {"options": [{"name": n} for n in config["options"]]}
        )
    elif kind == "formula":
        body = {"expression": config["expression"]}
    elif kind == "relation":
        body = {"data_source_id": ref("ds", db=config["to"])}
        if config["dual"]:
            dual: Json = {}
            if name_back and config.get("synced_as"):
                dual["synced_property_name"] = config["synced_as"]
            body.update({"type": "dual_property", "dual_property": dual})
        else:
            body.update({"type": "single_property", "single_property": {}})
    elif kind == "rollup":
        body = {
            "relation_property_name": config["relation"],
            "rollup_property_name": config["property"],
            "function": config["function"],
        }
    elif kind == "unique_id":
        body = {"prefix": config["prefix"]} if config["prefix"] else {}
    else:
        body = {}
    payload: Json = {kind: body}
    if prop.description is not None:
        payload["description"] = prop.description
    return payload


def row_hash(row: dict[str, Any]) -> str:
    """A stable hash of a seed row's values."""
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[:16]


def row_payload(
    db: DesiredDatabase, row: dict[str, Any], *, skip: frozenset[str] = frozenset()
) -> Json:
    """Notion property values for a seed row; relation values become row references."""
    out: Json = {}
    for name, value in row.items():
        prop = db.properties.get(name)
        if prop is None or prop.type in COMPUTED_TYPES or name in skip:
            continue
        out[name] = _value(prop, value)
    return out


def _value(prop: DesiredProperty, value: Any) -> Json:
    kind = prop.type
    if kind in ("title", "rich_text"):
        return {kind: rich_text("" if value is None else str(value))}
    if kind == "number":
        return {"number": value}
    if kind == "checkbox":
        return {"checkbox": bool(value)}
    if kind in ("url", "email", "phone_number"):
        return {kind: None if value in (None, "") else str(value)}
    if kind in ("select", "status"):
        return {kind: None if value in (None, "") else {"name": str(value)}}
    if kind == "multi_select":
        names = value if isinstance(value, list) else ([] if value in (None, "") else [value])
        return {"multi_select": [{"name": str(n)} for n in names]}
    if kind == "date":
        if value in (None, ""):
            return {"date": None}
        if isinstance(value, dict):
            return {"date": {"start": value.get("start"), "end": value.get("end")}}
        return {"date": {"start": str(value)}}
    if kind == "people":
        ids = value if isinstance(value, list) else ([] if value in (None, "") else [value])
        return {"people": [{"id": str(i)} for i in ids]}
    if kind == "files":
        urls = value if isinstance(value, list) else ([] if value in (None, "") else [value])
        return {
            "files": [
                {"name": str(u).rsplit("/", 1)[-1] or "file", "external": {"url": str(u)}}
                for u in urls
            ]
        }
    if kind == "relation":
        titles = value if isinstance(value, list) else ([] if value in (None, "") else [value])
        return {
            "relation": [{"id": ref("row", db=prop.config["to"], title=str(t))} for t in titles]
        }
    return {}
