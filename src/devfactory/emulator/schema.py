"""Data source schemas: creating, updating and rendering properties as Notion does.

Properties are stored by id: ``{"id", "name", "type", "description", "config"}``. Renames
keep the id; option lists follow Notion's rules (select and multi_select options are
*replaced* by what is sent, existing options keep their id and cannot change colour; status
options are merged, new ones join the To-do group); dual relations create and keep in sync a
back property on the target named ``Related to <database> (<property>)``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from devfactory.emulator import validation as v
from devfactory.emulator.context import Ctx
from devfactory.emulator.formula import compile_formula, rename_property
from devfactory.emulator.ids import new_option_id, new_property_id
from devfactory.emulator.model import Database, DataSource, Page
from devfactory.emulator.richtext import plain_text
from devfactory.emulator.values import COLORS, convert, empty
from devfactory.errors import FormulaError, NotionValidationError

__all__ = [
    "CREATABLE_TYPES",
    "NUMBER_FORMATS",
    "ROLLUP_FUNCTIONS",
    "apply_properties",
    "find_property",
    "formula_kinds",
    "render_properties",
    "render_property",
]

CREATABLE_TYPES = (
    "title",
    "rich_text",
    "number",
    "select",
    "multi_select",
    "status",
    "date",
    "people",
    "files",
    "checkbox",
    "url",
    "email",
    "phone_number",
    "formula",
    "relation",
    "rollup",
    "created_time",
    "created_by",
    "last_edited_time",
    "last_edited_by",
    "unique_id",
)
_NOT_CREATABLE = ("button", "verification", "location", "place", "last_visited_time")
NUMBER_FORMATS = frozenset(
    [
        "number",
        "number_with_commas",
        "percent",
        "dollar",
        "australian_dollar",
        "canadian_dollar",
        "singapore_dollar",
        "euro",
        "pound",
        "yen",
        "ruble",
        "rupee",
        "won",
        "yuan",
        "real",
        "lira",
        "rupiah",
        "franc",
        "hong_kong_dollar",
        "new_zealand_dollar",
        "krona",
        "norwegian_krone",
        "mexican_peso",
        "rand",
        "new_taiwan_dollar",
        "danish_krone",
        "zloty",
        "baht",
        "forint",
        "koruna",
        "shekel",
        "chilean_peso",
        "philippine_peso",
        "dirham",
        "colombian_peso",
        "riyal",
        "ringgit",
        "leu",
        "argentine_peso",
        "uruguayan_peso",
        "peruvian_sol",
    ]
)
ROLLUP_FUNCTIONS = frozenset(
    [
        "count",
        "count_values",
        "empty",
        "not_empty",
        "unique",
        "show_unique",
        "percent_empty",
        "percent_not_empty",
        "sum",
        "average",
        "median",
        "min",
        "max",
        "range",
        "earliest_date",
        "latest_date",
        "date_range",
        "checked",
        "unchecked",
        "percent_checked",
        "percent_unchecked",
        "count_per_group",
        "percent_per_group",
        "show_original",
    ]
)
MAX_NAME = 1000
_ORDER = {"formula": 3, "rollup": 2, "relation": 1}


# ---------------------------------------------------------------------------- lookup


def find_property(ds: DataSource, key: str) -> dict[str, Any] | None:
    """A property by id (raw or URL-encoded) or by name."""
    props = ds.properties
    if key in props:
        return props[key]
    encoded = quote(unquote(key), safe="")
    if encoded in props:
        return props[encoded]
    for prop in props.values():
        if prop["name"] == key:
            return prop
    return None


def _database_title(ctx: Ctx, ds: DataSource) -> str:
    db = ctx.store.get(ds.parent_id) if ds.parent_id else None
    return plain_text(db.title) if isinstance(db, Database) else plain_text(ds.title)


# ---------------------------------------------------------------------------- rendering


def render_property(ctx: Ctx, ds: DataSource, prop: dict[str, Any]) -> dict[str, Any]:
    """A property as the API shows it in a data source object."""
    ptype = prop["type"]
    config = prop["config"]
    body: dict[str, Any]
    if ptype == "relation":
        target = ctx.store.get(config["data_source_id"])
        body = {
            "database_id": target.parent_id if isinstance(target, DataSource) else None,
            "data_source_id": config["data_source_id"],
            "type": config["type"],
        }
        if config["type"] == "dual_property":
            synced = (
                target.properties.get(config.get("synced_property_id", ""))
                if isinstance(target, DataSource)
                else None
            )
            body["dual_property"] = {
                "synced_property_id": config.get("synced_property_id"),
                "synced_property_name": synced["name"] if synced else None,
            }
        else:
            body["single_property"] = {}
    elif ptype == "rollup":
        relation = ds.properties.get(config["relation_property_id"])
        rolled_name = None
        if relation is not None and relation["type"] == "relation":
            target = ctx.store.get(relation["config"]["data_source_id"])
            if isinstance(target, DataSource):
                rolled = target.properties.get(config["rollup_property_id"])
                rolled_name = rolled["name"] if rolled else None
        body = {
            "rollup_property_name": rolled_name,
            "relation_property_name": relation["name"] if relation else None,
            "rollup_property_id": config["rollup_property_id"],
            "relation_property_id": config["relation_property_id"],
            "function": config["function"],
        }
    elif ptype in ("select", "multi_select"):
        body = {"options": [dict(o) for o in config.get("options", [])]}
    elif ptype == "status":
        body = {
            "options": [dict(o) for o in config.get("options", [])],
            "groups": [dict(g, option_ids=list(g["option_ids"])) for g in config.get("groups", [])],
        }
    elif ptype == "unique_id":
        body = {"prefix": config.get("prefix")}
    elif ptype == "number":
        body = {"format": config.get("format", "number")}
    elif ptype == "formula":
        body = {"expression": config["expression"]}
    else:
        body = {}
    return {
        "id": prop["id"],
        "name": prop["name"],
        "description": prop.get("description"),
        "type": ptype,
        ptype: body,
    }


def render_properties(ctx: Ctx, ds: DataSource) -> dict[str, Any]:
    """All properties of a data source keyed by name."""
    return {prop["name"]: render_property(ctx, ds, prop) for prop in ds.properties.values()}


# ---------------------------------------------------------------------------- parsing


def _declared_type(raw: dict[str, Any], path: str) -> str | None:
    """The property type a request entry names, from ``type`` or its single type key."""
    explicit = raw.get("type")
    keys = [k for k in raw if k in CREATABLE_TYPES or k in _NOT_CREATABLE]
    if explicit is not None:
        ptype = v.string(explicit, f"{path}.type")
        if ptype in _NOT_CREATABLE:
            raise NotionValidationError(
                f"Property type `{ptype}` cannot be created or changed through the API."
            )
        if ptype not in CREATABLE_TYPES:
            v.fail(f"{path}.type", "should be a creatable property type", ptype)
        return ptype
    if len(keys) > 1:
        listed = " or ".join(f"{path}.{k}" for k in keys)
        raise NotionValidationError(
            f"body failed validation: only one of {listed} should be defined."
        )
    if keys:
        if keys[0] in _NOT_CREATABLE:
            raise NotionValidationError(
                f"Property type `{keys[0]}` cannot be created or changed through the API."
            )
        return keys[0]
    return None


def _config_body(raw: dict[str, Any], ptype: str, path: str) -> dict[str, Any]:
    body = raw.get(ptype, {})
    if body is None:
        body = {}
    return v.obj(body, f"{path}.{ptype}")


def _parse_options(raw: Any, path: str, existing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Notion's select semantics: the list sent *is* the new option set."""
    items = v.array(raw, path, max_items=None)
    by_id = {o["id"]: o for o in existing}
    by_name = {o["name"]: o for o in existing}
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        ipath = f"{path}[{i}]"
        opt = v.obj(item, ipath)
        color = opt.get("color")
        if color is not None:
            color = v.choice(color, f"{ipath}.color", COLORS)
        description = opt.get("description")
        if description is not None:
            description = v.string(description, f"{ipath}.description", max_length=MAX_NAME)
        current = None
        if opt.get("id") is not None:
            current = by_id.get(v.string(opt["id"], f"{ipath}.id"))
            if current is None:
                v.fail(f"{ipath}.id", "should be the id of an existing option", opt["id"])
        name = opt.get("name")
        if name is not None:
            name = v.string(name, f"{ipath}.name", max_length=100, min_length=1)
            if "," in name:
                raise NotionValidationError(f"Select option names cannot contain commas: `{name}`.")
            if current is not None and current["name"] != name:
                raise NotionValidationError(
                    f"Cannot update the name of select option `{current['name']}` through the API."
                )
            current = current or by_name.get(name)
        elif current is None:
            v.fail(f"{ipath}.name", "should be defined", v.UNDEFINED)
        if current is not None:
            if color is not None and color != current["color"]:
                raise NotionValidationError(
                    f"Cannot update color of select with name: {current['name']}."
                )
            option = dict(current)
            if description is not None:
                option["description"] = description
        else:
            option = {
                "id": new_option_id(),
                "name": name,
                "color": color or COLORS[(len(result) + 1) % len(COLORS)],
                "description": description,
            }
        if option["name"] in seen:
            raise NotionValidationError(f"Duplicate select option name: `{option['name']}`.")
        seen.add(option["name"])
        result.append(option)
    return result


def _default_status() -> dict[str, Any]:
    todo = {"id": new_option_id(), "name": "Not started", "color": "default", "description": None}
    doing = {"id": new_option_id(), "name": "In progress", "color": "blue", "description": None}
    done = {"id": new_option_id(), "name": "Done", "color": "green", "description": None}
    return {
        "options": [todo, doing, done],
        "groups": [
            {"id": new_option_id(), "name": "To-do", "color": "gray", "option_ids": [todo["id"]]},
            {
                "id": new_option_id(),
                "name": "In progress",
                "color": "blue",
                "option_ids": [doing["id"]],
            },
            {
                "id": new_option_id(),
                "name": "Complete",
                "color": "green",
                "option_ids": [done["id"]],
            },
        ],
    }


def _status_config(
    body: dict[str, Any], path: str, existing: dict[str, Any] | None
) -> dict[str, Any]:
    """Status options merge by id or name; new ones go to the To-do group."""
    config = existing or _default_status()
    if "options" not in body:
        return config
    if existing is None and body["options"] is not None:
        items = v.array(body["options"], f"{path}.options", max_items=None)
        if items:  # created with explicit options: they replace the defaults, all in To-do
            config["options"] = []
            for group in config["groups"]:
                group["option_ids"] = []
    options = config["options"]
    for i, item in enumerate(v.array(body["options"], f"{path}.options", max_items=None)):
        ipath = f"{path}.options[{i}]"
        opt = v.obj(item, ipath)
        match = None
        if opt.get("id") is not None:
            match = next((o for o in options if o["id"] == opt["id"]), None)
            if match is None:
                v.fail(f"{ipath}.id", "should be the id of an existing option", opt["id"])
        if match is None and opt.get("name") is not None:
            name = v.string(opt["name"], f"{ipath}.name", max_length=100, min_length=1)
            match = next((o for o in options if o["name"] == name), None)
        color = opt.get("color")
        if color is not None:
            color = v.choice(color, f"{ipath}.color", COLORS)
        if match is not None:
            if opt.get("name") is not None:
                match["name"] = v.string(opt["name"], f"{ipath}.name", max_length=100, min_length=1)
            if color is not None:
                match["color"] = color
            continue
        name = v.string(v.member(opt, "name", ipath), f"{ipath}.name", max_length=100, min_length=1)
        option = {
            "id": new_option_id(),
            "name": name,
            "color": color or "default",
            "description": None,
        }
        options.append(option)
        config["groups"][0]["option_ids"].append(option["id"])
    return config


def _relation_config(
    ctx: Ctx, ds: DataSource, body: dict[str, Any], path: str
) -> tuple[dict[str, Any], DataSource, dict[str, Any]]:
    raw_target = body.get("data_source_id")
    if raw_target is None and body.get("database_id") is not None:
        db_id = v.id_value(body["database_id"], f"{path}.database_id")
        db = ctx.store.get(db_id)
        if not isinstance(db, Database) or not db.data_source_ids:
            raise NotionValidationError(f"Could not find database with ID: {db_id}.")
        if len(db.data_source_ids) > 1:
            raise NotionValidationError(
                f"Database {db_id} has more than one data source; give {path}.data_source_id."
            )
        raw_target = db.data_source_ids[0]
    if raw_target is None:
        v.fail(f"{path}.data_source_id", "should be defined", v.UNDEFINED)
    target_id = v.id_value(raw_target, f"{path}.data_source_id")
    from devfactory.emulator.access import find

    target = find(ctx, target_id, DataSource, label="data source")
    kind = body.get("type")
    if kind is None:
        kind = "dual_property" if "dual_property" in body else "single_property"
    kind = v.choice(kind, f"{path}.type", ("single_property", "dual_property"))
    dual = v.obj(body.get("dual_property") or {}, f"{path}.dual_property")
    return {"data_source_id": target_id, "type": kind}, target, dual


def _rollup_config(ds: DataSource, body: dict[str, Any], path: str, ctx: Ctx) -> dict[str, Any]:
    function = v.choice(v.member(body, "function", path), f"{path}.function", ROLLUP_FUNCTIONS)
    if body.get("relation_property_id") is not None:
        relation = ds.properties.get(str(body["relation_property_id"])) or find_property(
            ds, str(body["relation_property_id"])
        )
    elif body.get("relation_property_name") is not None:
        relation = find_property(
            ds, v.string(body["relation_property_name"], f"{path}.relation_property_name")
        )
    else:
        v.fail(f"{path}.relation_property_name", "should be defined", v.UNDEFINED)
    if relation is None or relation["type"] != "relation":
        raise NotionValidationError(
            f"{path}: the relation property of a rollup must be a relation of this data source."
        )
    target = ctx.store.get(relation["config"]["data_source_id"])
    if not isinstance(target, DataSource):
        raise NotionValidationError(
            f"{path}: the rollup's relation points to a missing data source."
        )
    if body.get("rollup_property_id") is not None:
        rolled = target.properties.get(str(body["rollup_property_id"])) or find_property(
            target, str(body["rollup_property_id"])
        )
    elif body.get("rollup_property_name") is not None:
        rolled = find_property(
            target, v.string(body["rollup_property_name"], f"{path}.rollup_property_name")
        )
    else:
        v.fail(f"{path}.rollup_property_name", "should be defined", v.UNDEFINED)
    if rolled is None:
        raise NotionValidationError(
            f"{path}: the rolled-up property does not exist on the related data source."
        )
    return {
        "function": function,
        "relation_property_id": relation["id"],
        "rollup_property_id": rolled["id"],
    }


def formula_kinds(ctx: Ctx, ds: DataSource, seen: frozenset[str] = frozenset()) -> dict[str, str]:
    """The formula input kind of every property of ``ds`` (formulas by their result type)."""
    from devfactory.emulator.compute import kind_of

    return {p["name"]: kind_of(ctx, ds, p, seen) for p in ds.properties.values()}


def _formula_config(
    ctx: Ctx, ds: DataSource, prop_name: str, body: dict[str, Any], path: str
) -> dict[str, Any]:
    expression = v.string(
        v.member(body, "expression", path), f"{path}.expression", max_length=10_000
    )
    try:
        formula = compile_formula(expression)
        names = {p["name"] for p in ds.properties.values()}
        missing = sorted(formula.references - names)
        if missing:
            raise FormulaError(f'Unknown property "{missing[0]}" in formula.')
        if prop_name in formula.references:
            raise FormulaError("A formula cannot refer to itself.")
        kinds = formula_kinds(ctx, ds, frozenset([prop_name]))
        formula.result_type(kinds)  # type: ignore[arg-type]
    except FormulaError as exc:
        raise NotionValidationError(
            f"Formula of property `{prop_name}` is invalid: {exc.message}"
        ) from exc
    return {"expression": expression}


# ---------------------------------------------------------------------------- applying


def apply_properties(ctx: Ctx, ds: DataSource, raw: Any, path: str, *, creating: bool) -> None:
    """Create (``creating``) or update the properties of ``ds`` from a request map.

    Runs in passes so a request can add a relation and a rollup over it, and formulas that
    use any of them: plain properties first, then relations, rollups, formulas.
    """
    entries = v.obj(raw, path)
    if len(entries) > 1000:
        v.fail(f"{path}.length", "should be ≤ `1000`", len(entries))
    items = list(entries.items())

    def order(item: tuple[str, Any]) -> int:
        value = item[1]
        if isinstance(value, dict):
            try:
                ptype = _declared_type(value, f"{path}.{item[0]}")
            except NotionValidationError:
                return 0
            return _ORDER.get(ptype or "", 0)
        return 0

    for key, value in sorted(items, key=order):
        _apply_one(ctx, ds, key, value, f"{path}.{key}", creating=creating)
    titles = [p for p in ds.properties.values() if p["type"] == "title"]
    if len(titles) != 1:
        raise NotionValidationError(
            "Title property is missing: a data source needs exactly one property of type title."
            if not titles
            else "A data source can have only one title property."
        )
    if sum(1 for p in ds.properties.values() if p["type"] == "unique_id") > 1:
        raise NotionValidationError("A data source can have only one unique_id property.")
    ctx.store.touch(ds)


def _unique_name(ds: DataSource, wanted: str) -> str:
    names = {p["name"] for p in ds.properties.values()}
    if wanted not in names:
        return wanted
    n = 1
    while f"{wanted} ({n})" in names:
        n += 1
    return f"{wanted} ({n})"


def _apply_one(ctx: Ctx, ds: DataSource, key: str, raw: Any, path: str, *, creating: bool) -> None:
    existing = None if creating else find_property(ds, key)
    if raw is None:
        if existing is None:
            raise NotionValidationError(f"Could not find property with name or id: {key}")
        _remove(ctx, ds, existing)
        return
    entry = v.obj(raw, path)
    ptype = _declared_type(entry, path)
    description = entry.get("description", v.UNDEFINED)
    if description is not v.UNDEFINED and description is not None:
        description = v.string(description, f"{path}.description", max_length=MAX_NAME)
    new_name = entry.get("name")
    if new_name is not None:
        new_name = v.string(new_name, f"{path}.name", max_length=MAX_NAME, min_length=1).strip()
        if not new_name:
            v.fail(f"{path}.name", "should not be blank", entry["name"])
    if existing is None:
        if ptype is None:
            raise NotionValidationError(f"Could not find property with name or id: {key}")
        name = new_name or key.strip()
        if not name:
            v.fail(path, "should have a non-empty property name", key)
        if find_property(ds, name) is not None and creating:
            raise NotionValidationError(f"Property name `{name}` is used twice.")
        prop: dict[str, Any] = {
            "id": "title" if ptype == "title" else new_property_id(set(ds.properties)),
            "name": name,
            "type": ptype,
            "description": None if description is v.UNDEFINED else description,
            "config": {},
        }
        if ptype == "title" and "title" in ds.properties:
            raise NotionValidationError("A data source can have only one title property.")
        prop["config"] = _new_config(
            ctx, ds, prop, _config_body(entry, ptype, path), f"{path}.{ptype}"
        )
        ds.properties[prop["id"]] = prop
        _after_create(ctx, ds, prop, _config_body(entry, ptype, path))
        return
    if new_name is not None and new_name != existing["name"]:
        clash = find_property(ds, new_name)
        if clash is not None and clash is not existing:
            raise NotionValidationError(f"Property name `{new_name}` already exists.")
        _rename(ctx, ds, existing, new_name)
    if description is not v.UNDEFINED:
        existing["description"] = description
    if ptype is None:
        return
    body = _config_body(entry, ptype, path)
    if ptype == existing["type"]:
        _update_config(ctx, ds, existing, body, f"{path}.{ptype}")
    else:
        _change_type(ctx, ds, existing, ptype, body, f"{path}.{ptype}")


def _new_config(
    ctx: Ctx, ds: DataSource, prop: dict[str, Any], body: dict[str, Any], path: str
) -> dict[str, Any]:
    ptype = prop["type"]
    if ptype == "number":
        fmt = body.get("format", "number")
        return {"format": v.choice(fmt, f"{path}.format", NUMBER_FORMATS)}
    if ptype in ("select", "multi_select"):
        return {"options": _parse_options(body.get("options", []), f"{path}.options", [])}
    if ptype == "status":
        return _status_config(body, path, None)
    if ptype == "formula":
        return _formula_config(ctx, ds, prop["name"], body, path)
    if ptype == "relation":
        config, target, _dual = _relation_config(ctx, ds, body, path)
        if config["type"] == "dual_property" and target.id == ds.id:
            raise NotionValidationError(
                "Two-way relations of a data source to itself are not supported."
            )
        return config
    if ptype == "rollup":
        return _rollup_config(ds, body, path, ctx)
    if ptype == "unique_id":
        prefix = body.get("prefix")
        if prefix is not None:
            prefix = v.string(prefix, f"{path}.prefix", max_length=100)
        return {"prefix": prefix or None, "next": 1}
    return {}


def _after_create(ctx: Ctx, ds: DataSource, prop: dict[str, Any], body: dict[str, Any]) -> None:
    if prop["type"] == "relation" and prop["config"]["type"] == "dual_property":
        _attach_back_property(ctx, ds, prop, v.obj(body.get("dual_property") or {}, "body"))
    if prop["type"] == "unique_id":
        for row in _rows(ctx, ds):
            row.properties[prop["id"]] = prop["config"]["next"]
            prop["config"]["next"] += 1
            ctx.store.touch(row)


def _attach_back_property(
    ctx: Ctx, ds: DataSource, prop: dict[str, Any], dual: dict[str, Any]
) -> None:
    target = ctx.store.get(prop["config"]["data_source_id"])
    assert isinstance(target, DataSource)
    synced_id = dual.get("synced_property_id")
    if synced_id is not None and synced_id in target.properties:
        back = target.properties[synced_id]
        back["type"] = "relation"
        back["config"] = {
            "data_source_id": ds.id,
            "type": "dual_property",
            "synced_property_id": prop["id"],
        }
    else:
        wanted = dual.get("synced_property_name")
        if wanted is not None:
            wanted = v.string(
                wanted, "body.dual_property.synced_property_name", max_length=MAX_NAME, min_length=1
            )
        name = _unique_name(
            target, wanted or f"Related to {_database_title(ctx, ds)} ({prop['name']})"
        )
        back = {
            "id": new_property_id(set(target.properties)),
            "name": name,
            "type": "relation",
            "description": None,
            "config": {
                "data_source_id": ds.id,
                "type": "dual_property",
                "synced_property_id": prop["id"],
            },
        }
        target.properties[back["id"]] = back
    prop["config"]["synced_property_id"] = back["id"]
    # Existing links become visible from the other side.
    for row in _rows(ctx, ds):
        for related in row.properties.get(prop["id"], []):
            other = ctx.store.get(related)
            if isinstance(other, Page):
                linked = other.properties.setdefault(back["id"], [])
                if row.id not in linked:
                    linked.append(row.id)
                    ctx.store.touch(other)
    ctx.store.touch(target)


def _detach_back_property(ctx: Ctx, prop: dict[str, Any]) -> None:
    """Turn the other side of a dual relation into a one-way relation (nothing is lost)."""
    config = prop["config"]
    target = ctx.store.get(config.get("data_source_id", ""))
    synced = config.get("synced_property_id")
    if isinstance(target, DataSource) and synced in target.properties:
        back = target.properties[synced]
        if back["type"] == "relation":
            back["config"] = {
                "data_source_id": back["config"]["data_source_id"],
                "type": "single_property",
            }
            ctx.store.touch(target)
    config.pop("synced_property_id", None)


def _rows(ctx: Ctx, ds: DataSource) -> list[Page]:
    return list(ctx.store.rows_of(ds.id).values())


def _remove(ctx: Ctx, ds: DataSource, prop: dict[str, Any]) -> None:
    if prop["type"] == "title":
        raise NotionValidationError("The title property of a data source cannot be removed.")
    if prop["type"] == "relation" and prop["config"]["type"] == "dual_property":
        _detach_back_property(ctx, prop)
    del ds.properties[prop["id"]]
    for row in _rows(ctx, ds):
        if prop["id"] in row.properties:
            del row.properties[prop["id"]]
            ctx.store.touch(row)


def _rename(ctx: Ctx, ds: DataSource, prop: dict[str, Any], new_name: str) -> None:
    old_name = prop["name"]
    prop["name"] = new_name
    for other in ds.properties.values():
        if other["type"] == "formula":
            other["config"]["expression"] = rename_property(
                other["config"]["expression"], old_name, new_name
            )
    # Formulas in other data sources reach this one only through rollups, which use ids.


def _update_config(
    ctx: Ctx, ds: DataSource, prop: dict[str, Any], body: dict[str, Any], path: str
) -> None:
    ptype = prop["type"]
    config = prop["config"]
    if ptype == "number" and "format" in body:
        config["format"] = v.choice(body["format"], f"{path}.format", NUMBER_FORMATS)
    elif ptype in ("select", "multi_select") and "options" in body:
        old_ids = {o["id"] for o in config.get("options", [])}
        config["options"] = _parse_options(
            body["options"], f"{path}.options", config.get("options", [])
        )
        removed = old_ids - {o["id"] for o in config["options"]}
        if removed:
            _clear_options(ctx, ds, prop, removed)
    elif ptype == "status":
        prop["config"] = _status_config(body, path, config)
    elif ptype == "formula" and "expression" in body:
        prop["config"] = _formula_config(ctx, ds, prop["name"], body, path)
    elif ptype == "rollup" and body:
        # Unchanged parts keep their ids; a part named anew is looked up by its new name.
        merged = {"function": config["function"]}
        if "relation_property_name" not in body:
            merged["relation_property_id"] = config["relation_property_id"]
        if "rollup_property_name" not in body:
            merged["rollup_property_id"] = config["rollup_property_id"]
        merged.update(body)
        prop["config"] = _rollup_config(ds, merged, path, ctx)
    elif ptype == "unique_id" and body.get("prefix") is not None:
        config["prefix"] = v.string(body["prefix"], f"{path}.prefix", max_length=100) or None
    elif ptype == "relation" and body:
        new_config, target, dual = _relation_config(ctx, ds, body, path)
        if new_config["data_source_id"] != config["data_source_id"]:
            if config["type"] == "dual_property":
                _detach_back_property(ctx, prop)
            prop["config"] = new_config
            for row in _rows(ctx, ds):
                if row.properties.pop(prop["id"], None) is not None:
                    ctx.store.touch(row)
            if new_config["type"] == "dual_property":
                _attach_back_property(ctx, ds, prop, dual)
        elif new_config["type"] != config["type"]:
            if new_config["type"] == "single_property":
                _detach_back_property(ctx, prop)
                config["type"] = "single_property"
            else:
                if target.id == ds.id:
                    raise NotionValidationError(
                        "Two-way relations of a data source to itself are not supported."
                    )
                config["type"] = "dual_property"
                _attach_back_property(ctx, ds, prop, dual)


def _clear_options(ctx: Ctx, ds: DataSource, prop: dict[str, Any], removed: set[str]) -> None:
    for row in _rows(ctx, ds):
        value = row.properties.get(prop["id"])
        if prop["type"] == "multi_select" and value:
            kept = [i for i in value if i not in removed]
            if kept != value:
                row.properties[prop["id"]] = kept
                ctx.store.touch(row)
        elif value in removed:
            row.properties[prop["id"]] = None
            ctx.store.touch(row)


def _change_type(
    ctx: Ctx, ds: DataSource, prop: dict[str, Any], new_type: str, body: dict[str, Any], path: str
) -> None:
    if prop["type"] == "title" or new_type == "title":
        raise NotionValidationError(
            "The type of the title property cannot be changed, and there is one title."
        )
    old = {"id": prop["id"], "name": prop["name"], "type": prop["type"], "config": prop["config"]}
    if old["type"] == "relation" and old["config"]["type"] == "dual_property":
        _detach_back_property(ctx, prop)
    new = {
        "id": prop["id"],
        "name": prop["name"],
        "type": new_type,
        "description": prop.get("description"),
        "config": {},
    }
    new["config"] = _new_config(ctx, ds, new, body, path)
    stored_old = old["type"] not in (
        "formula",
        "rollup",
        "created_time",
        "created_by",
        "last_edited_time",
        "last_edited_by",
    )
    for row in _rows(ctx, ds):
        value = row.properties.pop(prop["id"], None)
        if new_type in (
            "formula",
            "rollup",
            "created_time",
            "created_by",
            "last_edited_time",
            "last_edited_by",
            "relation",
        ):
            pass
        elif stored_old:
            row.properties[prop["id"]] = convert(
                ctx, ds, old, new, value if value is not None else empty(old["type"])
            )
        ctx.store.touch(row)
    prop["type"] = new_type
    prop["config"] = new["config"]
    _after_create(ctx, ds, prop, body)
