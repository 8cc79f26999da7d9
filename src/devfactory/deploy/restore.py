"""Restoring a backup into an empty workspace, links and all.

Restoring only ever creates: a new page (or the ``--into`` page) gets new databases with the
same schemas, the rows with their writable values, then the relations, the rollups and
formulas over them, and finally the links between the new rows. Every create is looked up
before it is retried, so a flaky target never doubles a row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from devfactory.deploy.backup import (
    FORMAT,
    LINKED_TYPES,
    MAX_ITEMS,
    UNCREATABLE_TYPES,
    Json,
    answers,
)
from devfactory.deploy.observe import (
    find_database_under,
    find_root_page,
    named_expression,
    plain,
    row_title,
)
from devfactory.errors import NotionError, TargetError, UserError
from devfactory.notion.api import Idempotency, NotionAPI
from devfactory.notion.target import NotionSession

__all__ = ["RestoreResult", "restore_backup"]

MAX_LINKS = MAX_ITEMS  # related pages per relation value in a request

_PROP = re.compile(r'prop\("((?:[^"\\]|\\.)*)"\)')


@dataclass
class RestoreResult:
    """What a restore made: counts, the page it made them under, and old id -> new id."""

    page_id: str
    page_title: str | None = None
    databases: int = 0
    properties: int = 0
    rows: int = 0
    links: int = 0
    ids: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _rich_text(items: list[Json] | None) -> list[Json]:
    """Rich text as a request takes it; mentions (of things the target may not have) become
    their text."""
    out: list[Json] = []
    for item in (items or [])[:MAX_ITEMS]:
        kind = item.get("type")
        new: Json
        if kind == "equation":
            new = {"type": "equation", "equation": {"expression": item["equation"]["expression"]}}
        else:
            text = item.get("text") or {}
            content = text.get("content", item.get("plain_text", ""))
            body: Json = {"content": content}
            link = text.get("link")
            if kind == "text" and link and link.get("url"):
                body["link"] = {"url": link["url"]}
            new = {"type": "text", "text": body}
        if item.get("annotations"):
            new["annotations"] = item["annotations"]
        out.append(new)
    return out


def _file_url(obj: Json | None) -> str | None:
    if not obj:
        return None
    body = obj.get(obj.get("type", ""))
    url = body.get("url") if isinstance(body, dict) else None
    return str(url) if url else None


def _icon(icon: Json | None, *, cover: bool = False) -> Json | None:
    """An icon or cover as a request takes it; Notion-hosted files become external URLs."""
    if not icon:
        return None
    if icon.get("type") == "emoji" and not cover:
        return {"type": "emoji", "emoji": icon["emoji"]}
    url = _file_url(icon) if icon.get("type") in ("external", "file") else None
    return {"type": "external", "external": {"url": url}} if url else None


def _option(option: Json) -> Json:
    out: Json = {"name": option["name"]}
    if option.get("color"):
        out["color"] = option["color"]
    if option.get("description"):
        out["description"] = option["description"]
    return out


def _schema(prop: Json) -> Json:
    """The request config that creates a property like ``prop`` (not a relation, rollup or
    formula)."""
    kind = prop["type"]
    body = prop.get(kind) or {}
    config: Json = {}
    if kind == "number":
        config = {"format": body.get("format", "number")}
    elif kind in ("select", "multi_select", "status"):
        config = {"options": [_option(o) for o in body.get("options", [])]}
    elif kind == "unique_id" and body.get("prefix"):
        config = {"prefix": body["prefix"]}
    payload: Json = {kind: config}
    if prop.get("description"):
        payload["description"] = prop["description"]
    return payload


def _references(expression: str) -> set[str]:
    return {re.sub(r"\\(.)", r"\1", m.group(1)) for m in _PROP.finditer(expression)}


def _creation_order(row: Json) -> tuple[float, str]:
    """Unique id, then creation time: so a restored unique id counts as the original did."""
    number = next(
        (
            v["unique_id"].get("number")
            for v in row.get("properties", {}).values()
            if v.get("type") == "unique_id" and v.get("unique_id")
        ),
        None,
    )
    return (float("inf") if number is None else float(number), str(row.get("created_time", "")))


@dataclass
class _Computed:
    """A rollup or formula waiting for the properties it needs."""

    key: str
    name: str
    payload: Json
    needs: set[tuple[str, str]]


class _Restorer:
    """Recreates a backup's databases step by step; every call goes through ``api``."""

    def __init__(self, data: Json, session: NotionSession, api: NotionAPI) -> None:
        self.data = data
        self.entries: dict[str, Json] = data["databases"]
        self.session = session
        self.client = session.client
        self.api = api
        self.result = RestoreResult(page_id="")
        self.data_sources: dict[str, str] = {}  # key -> new data source id
        self.key_of: dict[str, str] = {  # old data source id -> key
            entry["data_source"]["id"]: key for key, entry in self.entries.items()
        }
        self.made: set[tuple[str, str]] = set()  # (key, property name) that exist now
        self.owned: dict[str, list[str]] = {}  # relations whose values are written from key
        self.backs: dict[tuple[str, str], tuple[str, str]] = {}  # two-way: the other side
        self.users: set[str] | None = None
        self.dropped_people = 0

    async def run(self, into_page_id: str | None) -> RestoreResult:
        self.result.page_id = into_page_id or await self._make_root_page()
        if into_page_id is not None:
            await self._check_parent(into_page_id)
        for key, entry in self.entries.items():
            await self._create_database(key, entry)
        for key, entry in self.entries.items():
            await self._create_rows(key, entry)
        await self._create_relations()
        await self._create_computed()
        await self._link_rows()
        if self.dropped_people:
            self.result.warnings.append(
                f"{self.dropped_people} people values name users this workspace does not have; left out"
            )
        return self.result

    async def _call(self, fn: Any, label: str, *, lookup: Any = None, create: bool = False) -> Json:
        idempotency = Idempotency.UNSAFE if create else Idempotency.IDEMPOTENT
        return await self.api.call(fn, idempotency=idempotency, resolve=lookup, label=label)

    async def _make_root_page(self) -> str:
        if not self.session.target.creates_root_pages:
            raise TargetError(
                "this target cannot make workspace-level pages: give --into PAGE_ID, a page "
                "shared with the integration, to restore under"
            )
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        title = f"{self.data.get('workspace', 'devfactory')} (restored {stamp})"
        page = await self._call(
            partial(
                self.client.pages.create,
                parent={"type": "workspace", "workspace": True},
                properties={"title": {"title": [{"type": "text", "text": {"content": title}}]}},
            ),
            "create the restore page",
            lookup=partial(find_root_page, self.api, self.session, title),
            create=True,
        )
        self.result.page_title = title
        return str(page["id"])

    async def _check_parent(self, page_id: str) -> None:
        try:
            page = await self._call(partial(self.client.pages.retrieve, page_id), "read --into")
        except NotionError as exc:
            raise TargetError(
                f"--into {page_id}: no such page, or it is not shared with the integration ({exc})"
            ) from exc
        self.result.page_title = plain(
            next(
                (
                    v.get("title")
                    for v in page.get("properties", {}).values()
                    if v.get("type") == "title"
                ),
                None,
            )
        )

    async def _create_database(self, key: str, entry: Json) -> None:
        database, schema = entry["database"], entry["data_source"]["properties"]
        properties: Json = {}
        for name, prop in schema.items():
            if prop["type"] in UNCREATABLE_TYPES:
                self.result.warnings.append(
                    f"{key}.{name}: {prop['type']} properties cannot be made through the API; left out"
                )
            elif prop["type"] not in LINKED_TYPES:
                properties[name] = _schema(prop)
        parent = self.result.page_id
        title = _rich_text(database.get("title"))
        body: Json = {
            "parent": {"type": "page_id", "page_id": parent},
            "title": title,
            "is_inline": bool(database.get("is_inline", False)),
            "initial_data_source": {"properties": properties},
        }
        if database.get("description"):
            body["description"] = _rich_text(database["description"])
        for field_name in ("icon", "cover"):
            value = _icon(database.get(field_name), cover=field_name == "cover")
            if value is not None:
                body[field_name] = value
        claimed = set(self.result.ids.values())
        made = await self._call(
            partial(self.client.databases.create, **body),
            f"create database {key}",
            lookup=partial(
                find_database_under, self.api, self.session, parent, plain(title), claimed
            ),
            create=True,
        )
        data_source_id = str((made.get("data_sources") or [{}])[0].get("id", ""))
        self.result.ids[database["id"]] = str(made["id"])
        self.result.ids[entry["data_source"]["id"]] = data_source_id
        self.data_sources[key] = data_source_id
        self.made.update((key, name) for name in properties)
        self.result.databases += 1
        self.result.properties += len(properties)
        source_title = entry["data_source"].get("title")
        if source_title and plain(source_title) != plain(database.get("title")):
            await self._call(
                partial(
                    self.client.data_sources.update, data_source_id, title=_rich_text(source_title)
                ),
                f"name the data source of {key}",
            )

    async def _known_users(self) -> set[str]:
        if self.users is None:
            self.users = set()
            try:
                async for answer in answers(self.api, self.client.users.list, "list users"):
                    self.users.update(str(u["id"]) for u in answer.get("results", []))
            except NotionError as exc:  # no user capability: no people can be kept
                if exc.status != 403:
                    raise
        return self.users

    async def _value(self, value: Json) -> Json | None:
        """The request value that writes ``value`` again, or None to leave it out."""
        kind = value.get("type", "")
        item = value.get(kind)
        if kind in ("title", "rich_text"):
            return {kind: _rich_text(item)} if item else None
        if kind in ("number", "url", "email", "phone_number"):
            return None if item is None else {kind: item}
        if kind == "checkbox":
            return {kind: bool(item)}
        if kind in ("select", "status"):
            return {kind: {"name": item["name"]}} if item else None
        if kind == "multi_select":
            return {kind: [{"name": o["name"]} for o in item]} if item else None
        if kind == "date":
            if not item:
                return None
            date: Json = {"start": item["start"], "end": item.get("end")}
            if item.get("time_zone"):
                date["time_zone"] = item["time_zone"]
            return {kind: date}
        if kind == "people" and item:
            users = await self._known_users()
            kept = [{"id": p["id"]} for p in item if p.get("id") in users]
            self.dropped_people += len(item) - len(kept)
            return {kind: kept[:MAX_ITEMS]} if kept else None
        if kind == "files" and item:
            files = [
                {
                    "name": (f.get("name") or url.rsplit("/", 1)[-1] or "file")[:100],
                    "type": "external",
                    "external": {"url": url},
                }
                for f in item
                if (url := _file_url(f))
            ]
            return {kind: files[:MAX_ITEMS]} if files else None
        return None  # computed, relation (linked later), or empty

    async def _find_row(self, data_source_id: str, title: str) -> Json | None:
        """A row with this title that no earlier create of this restore claimed."""
        claimed = set(self.result.ids.values())
        condition = {"equals": title} if title else {"is_empty": True}
        fn = partial(self.client.data_sources.query, data_source_id)
        flt = {"property": "title", "title": condition}
        async for answer in answers(self.api, fn, "find a restored row", filter=flt):
            for row in answer.get("results", []):
                if row["id"] not in claimed:
                    return dict(row)
        return None

    async def _create_rows(self, key: str, entry: Json) -> None:
        data_source_id = self.data_sources[key]
        for row in sorted(entry["rows"], key=_creation_order):
            properties: Json = {}
            for name, value in row.get("properties", {}).items():
                if (key, name) in self.made:
                    written = await self._value(value)
                    if written is not None:
                        properties[name] = written
            body: Json = {
                "parent": {"type": "data_source_id", "data_source_id": data_source_id},
                "properties": properties,
            }
            for field_name in ("icon", "cover"):
                extra = _icon(row.get(field_name), cover=field_name == "cover")
                if extra is not None:
                    body[field_name] = extra
            page = await self._call(
                partial(self.client.pages.create, **body),
                f"restore row {row_title(row)!r} of {key}",
                lookup=partial(self._find_row, data_source_id, row_title(row)),
                create=True,
            )
            self.result.ids[row["id"]] = str(page["id"])
            self.result.rows += 1

    async def _create_relations(self) -> None:
        done: set[tuple[str, str]] = set()  # (old data source id, property id) made already
        for key, entry in self.entries.items():
            source = entry["data_source"]
            properties: Json = {}
            backs: list[tuple[str, str, str | None]] = []
            for name, prop in source["properties"].items():
                if prop["type"] != "relation" or (source["id"], prop["id"]) in done:
                    continue
                relation = prop["relation"]
                target = self.key_of.get(relation.get("data_source_id", ""))
                if target is None:
                    self.result.warnings.append(
                        f"{key}.{name}: links to a database not in the backup; left out"
                    )
                    continue
                config: Json = {"data_source_id": self.data_sources[target]}
                if relation.get("type") == "dual_property":
                    synced_id = (relation.get("dual_property") or {}).get("synced_property_id")
                    other = next(
                        (
                            n
                            for n, p in self.entries[target]["data_source"]["properties"].items()
                            if p["id"] == synced_id
                        ),
                        (relation.get("dual_property") or {}).get("synced_property_name"),
                    )
                    done.add((relation["data_source_id"], str(synced_id)))
                    dual = {"synced_property_name": other} if other else {}
                    config.update({"type": "dual_property", "dual_property": dual})
                    backs.append((name, target, other))
                else:
                    config.update({"type": "single_property", "single_property": {}})
                payload: Json = {"relation": config}
                if prop.get("description"):
                    payload["description"] = prop["description"]
                properties[name] = payload
                self.owned.setdefault(key, []).append(name)
            if not properties:
                continue
            answer = await self._call(
                partial(
                    self.client.data_sources.update, self.data_sources[key], properties=properties
                ),
                f"create the relations of {key}",
            )
            self.made.update((key, name) for name in properties)
            self.result.properties += len(properties)
            for name, target, other in backs:
                await self._name_back(answer, key, name, target, other)

    async def _name_back(
        self, answer: Json, key: str, name: str, target: str, other: str | None
    ) -> None:
        """Give a two-way relation's back property its old name, if the target chose another."""
        relation = answer.get("properties", {}).get(name, {}).get("relation", {})
        dual = relation.get("dual_property") or {}
        back_id, got = dual.get("synced_property_id"), dual.get("synced_property_name")
        self.result.properties += 1
        if other is not None and got != other and back_id:
            await self._call(
                partial(
                    self.client.data_sources.update,
                    self.data_sources[target],
                    properties={back_id: {"name": other}},
                ),
                f"name the back property {other!r} of {target}",
            )
        if other is not None:
            self.made.add((target, other))
            self.backs[(key, name)] = (target, other)
        elif got is not None:
            self.made.add((target, str(got)))

    def _pending_computed(self) -> list[_Computed]:
        pending: list[_Computed] = []
        for key, entry in self.entries.items():
            schema = entry["data_source"]["properties"]
            names_by_id = {p["id"]: n for n, p in schema.items()}
            for name, prop in schema.items():
                body = prop.get(prop["type"]) or {}
                if prop["type"] == "formula":
                    expression = named_expression(body.get("expression", ""), names_by_id)
                    needs = {(key, n) for n in _references(expression)}
                    pending.append(
                        _Computed(key, name, {"formula": {"expression": expression}}, needs)
                    )
                elif prop["type"] == "rollup":
                    item = self._rollup(key, schema, name, body)
                    if item is not None:
                        pending.append(item)
        return pending

    def _rollup(self, key: str, schema: Json, name: str, body: Json) -> _Computed | None:
        names_by_id = {p["id"]: n for n, p in schema.items()}
        relation = body.get("relation_property_name") or names_by_id.get(
            body.get("relation_property_id", "")
        )
        linked = schema.get(relation or "", {})
        target = self.key_of.get((linked.get("relation") or {}).get("data_source_id", ""))
        if relation is None or target is None:
            self.result.warnings.append(
                f"{key}.{name}: rolls up a relation to a database not in the backup; left out"
            )
            return None
        target_schema = self.entries[target]["data_source"]["properties"]
        rolled = body.get("rollup_property_name") or next(
            (n for n, p in target_schema.items() if p["id"] == body.get("rollup_property_id")), None
        )
        config = {
            "relation_property_name": relation,
            "rollup_property_name": rolled,
            "function": body.get("function", "show_original"),
        }
        return _Computed(key, name, {"rollup": config}, {(key, relation), (target, str(rolled))})

    async def _create_computed(self) -> None:
        """Rollups and formulas, in passes: each pass adds those whose inputs exist."""
        pending = self._pending_computed()
        while pending:
            ready = [p for p in pending if p.needs <= self.made]
            if not ready:
                break
            for key in dict.fromkeys(p.key for p in ready):
                properties = {p.name: p.payload for p in ready if p.key == key}
                await self._call(
                    partial(
                        self.client.data_sources.update,
                        self.data_sources[key],
                        properties=properties,
                    ),
                    f"create the rollups and formulas of {key}",
                )
                self.made.update((key, name) for name in properties)
                self.result.properties += len(properties)
            pending = [p for p in pending if p not in ready]
        for item in pending:
            missing = ", ".join(sorted(f"{k}.{n}" for k, n in item.needs - self.made))
            self.result.warnings.append(
                f"{item.key}.{item.name}: needs {missing}, which was not restored; left out"
            )

    def _linked(self, row: Json, name: str) -> tuple[list[str], int]:
        """The new ids of the rows ``row`` links through ``name``, and how many have none."""
        items = (row.get("properties", {}).get(name) or {}).get("relation") or []
        linked = [self.result.ids[i["id"]] for i in items if i.get("id") in self.result.ids]
        return linked, len(items) - len(linked)

    async def _write_links(self, key: str, row: Json, links: dict[str, list[str]]) -> None:
        properties: Json = {}
        for name, linked in links.items():
            if len(linked) > MAX_LINKS:
                self.result.warnings.append(
                    f"{key}.{name}: {row_title(row)!r} links {len(linked)} pages; a request "
                    f"writes {MAX_LINKS}, the rest are left out"
                )
            if linked:
                properties[name] = {"relation": [{"id": i} for i in linked[:MAX_LINKS]]}
        if properties:
            await self._call(
                partial(
                    self.client.pages.update, self.result.ids[row["id"]], properties=properties
                ),
                f"link row {row_title(row)!r} of {key}",
            )

    async def _link_rows(self) -> None:
        """Write relation values with the new ids from the side each relation was made from;
        a row with more links than a request takes is linked from the other side instead."""
        for key, names in self.owned.items():
            lost = dict.fromkeys(names, 0)
            crowded: dict[str, set[str]] = {name: set() for name in names}
            for row in self.entries[key]["rows"]:
                links: dict[str, list[str]] = {}
                for name in names:
                    linked, missing = self._linked(row, name)
                    lost[name] += missing
                    if len(linked) > MAX_LINKS and (key, name) in self.backs:
                        crowded[name].add(row["id"])
                        continue
                    links[name] = linked
                    self.result.links += min(len(linked), MAX_LINKS)
                await self._write_links(key, row, links)
            for name, rows in crowded.items():
                if rows:
                    await self._link_from_the_other_side(key, name, rows)
            for name, count in lost.items():
                if count:
                    self.result.warnings.append(
                        f"{key}.{name}: {count} links to pages not in the backup; left out"
                    )

    async def _link_from_the_other_side(self, key: str, name: str, rows: set[str]) -> None:
        """Link ``rows`` by writing the back property of every row they link to."""
        target, back = self.backs[(key, name)]
        for row in self.entries[target]["rows"]:
            items = (row.get("properties", {}).get(back) or {}).get("relation") or []
            count = sum(1 for i in items if i.get("id") in rows)
            if count:
                linked, _ = self._linked(row, back)
                self.result.links += count if len(linked) <= MAX_LINKS else 0
                await self._write_links(target, row, {back: linked})


async def restore_backup(
    data: Json, session: NotionSession, api: NotionAPI, *, into_page_id: str | None
) -> RestoreResult:
    """Recreate a backup's databases, rows and links under a new page (or ``into_page_id``).

    Only creates; the databases the backup came from are never read or written.
    """
    if data.get("format") != FORMAT or not isinstance(data.get("databases"), dict):
        raise UserError(f"not backup data of format {FORMAT}")
    restorer = _Restorer(data, session, api)
    try:
        return await restorer.run(into_page_id)
    except NotionError as exc:
        where = restorer.result.page_id
        raise UserError(
            f"the restore stopped: {exc}"
            + (
                f"; what it made so far is under page {where} — delete that page and restore again"
                if where
                else ""
            )
        ) from exc
