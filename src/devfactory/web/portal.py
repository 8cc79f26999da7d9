"""What one client may see in the portal: a pure filter over rows read from Notion.

The portal never trusts an id from a request to decide what to show. Every answer starts
from the client a portal key is bound to and computes the visible set here:

- the client's own record, only if its ``Visibility`` is ``Portal`` (otherwise nothing at
  all is visible: :func:`visible_to` returns None);
- the projects whose ``Client`` relation holds that client **and** whose own ``Visibility``
  is ``Portal``;
- the tasks whose ``Project`` relation points at one of those visible projects **and** whose
  own ``Visibility`` is ``Portal``; a task whose ``Client`` relation names clients but not
  this one is hidden too (inconsistent data fails closed).

A row with no visibility, or any other value, is internal. Only the properties named in
:class:`PortalRules` are shown (a whitelist): budgets, notes, rollups and relations to
internal rows never reach a page. Routes look a requested id up in the visible set, so a
guessed id, another client's id and a nonexistent id all get the same 404.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PortalRules", "Row", "Visible", "page_key", "plain", "to_row", "visible_to"]

Json = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class PortalRules:
    """Which databases and properties the portal reads (the consulting example's names)."""

    clients: str = "clients"
    projects: str = "projects"
    tasks: str = "tasks"
    visibility: str = "Visibility"
    shown: str = "Portal"
    project_client: str = "Client"
    task_project: str = "Project"
    task_client: str = "Client"
    client_fields: tuple[str, ...] = ("Status", "Industry", "Website")
    project_fields: tuple[str, ...] = ("Status", "Services", "Timeline", "Brief")
    task_fields: tuple[str, ...] = ("Status", "Priority", "Phase", "Due", "Completed")

    def fields_of(self, database: str) -> tuple[str, ...]:
        """The properties shown for rows of ``database`` (a logical key)."""
        return {
            self.clients: self.client_fields,
            self.projects: self.project_fields,
            self.tasks: self.task_fields,
        }.get(database, ())

    def links_of(self, database: str) -> tuple[str, ...]:
        """The relations the filter follows on rows of ``database``."""
        return {
            self.projects: (self.project_client,),
            self.tasks: (self.task_project, self.task_client),
        }.get(database, ())


@dataclass(frozen=True, slots=True)
class Row:
    """A page reduced to what the portal may use: never the whole Notion page."""

    id: str
    title: str
    visibility: str | None
    fields: Mapping[str, str] = field(default_factory=dict)
    links: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The id as compared: :func:`page_key`."""
        return page_key(self.id)

    def to_dict(self) -> Json:
        """JSON for the portal API: id, title and the whitelisted fields (no relations)."""
        return {"id": self.id, "title": self.title, "fields": dict(self.fields)}


def page_key(page_id: str) -> str:
    """A page id in one spelling (no dashes, lower case), so dashed and bare ids compare."""
    return page_id.replace("-", "").strip().lower()


def _text(items: Iterable[Json]) -> str:
    return "".join(
        str(item.get("plain_text") or item.get("text", {}).get("content", "")) for item in items
    )


def plain(value: Json) -> str:
    """A property value as display text ("" for what the portal does not show)."""
    kind = value.get("type")
    inner = value.get(kind) if isinstance(kind, str) else None
    if inner is None:
        return ""
    if kind in ("title", "rich_text"):
        return _text(inner)
    if kind in ("select", "status"):
        return str(inner.get("name", ""))
    if kind == "multi_select":
        return ", ".join(str(option.get("name", "")) for option in inner)
    if kind == "date":
        start, end = inner.get("start"), inner.get("end")
        return f"{start} → {end}" if end else str(start or "")
    if kind == "checkbox":
        return "Yes" if inner else "No"
    if kind in ("number", "url", "email", "phone_number"):
        return str(inner)
    if kind == "formula":
        result = inner.get("type")
        if result == "boolean":
            return "Yes" if inner.get("boolean") else "No"
        if result == "date":
            return plain({"type": "date", "date": inner.get("date")})
        return "" if inner.get(result) is None else str(inner.get(result))
    return ""


def to_row(page: Json, fields: Sequence[str], links: Sequence[str], visibility: str) -> Row:
    """Reduce a Notion page to a :class:`Row`: its title, visibility, the named ``fields``
    as text and the ids of the named ``links`` (relations)."""
    props: Mapping[str, Json] = page.get("properties", {})
    title = next(
        (_text(v.get("title", [])) for v in props.values() if v.get("type") == "title"), ""
    )
    seen = props.get(visibility)
    shown = seen.get("select") if seen and seen.get("type") == "select" else None
    return Row(
        id=str(page["id"]),
        title=title,
        visibility=str(shown["name"]) if shown else None,
        fields={name: plain(props[name]) for name in fields if name in props},
        links={
            name: tuple(str(item["id"]) for item in props[name].get("relation", []))
            for name in links
            if name in props and props[name].get("type") == "relation"
        },
    )


@dataclass(frozen=True, slots=True)
class Visible:
    """Everything one client may see; the only source the portal's routes answer from."""

    client: Row
    projects: tuple[Row, ...]
    tasks: tuple[Row, ...]
    task_project: str = "Project"

    def project(self, page_id: str) -> Row | None:
        """The visible project ``page_id``, or None (hidden, another client's, or no such)."""
        wanted = page_key(page_id)
        return next((p for p in self.projects if p.key == wanted), None)

    def tasks_of(self, project: Row) -> tuple[Row, ...]:
        """The visible tasks of a visible ``project``."""
        return tuple(
            t
            for t in self.tasks
            if project.key in map(page_key, t.links.get(self.task_project, ()))
        )


def visible_to(
    client_id: str,
    clients: Iterable[Row],
    projects: Iterable[Row],
    tasks: Iterable[Row],
    rules: PortalRules = PortalRules(),
) -> Visible | None:
    """What the client ``client_id`` may see in these rows; None when its own record is
    missing or not ``Portal`` (then the portal shows it nothing)."""
    me = page_key(client_id)
    client = next((c for c in clients if c.key == me), None)
    if client is None or client.visibility != rules.shown:
        return None
    mine = tuple(
        p
        for p in projects
        if p.visibility == rules.shown
        and me in map(page_key, p.links.get(rules.project_client, ()))
    )
    keys = {p.key for p in mine}
    shown = tuple(
        t
        for t in tasks
        if t.visibility == rules.shown
        and keys.intersection(map(page_key, t.links.get(rules.task_project, ())))
        and _same_client(t, me, rules)
    )
    return Visible(client, mine, shown, rules.task_project)


def _same_client(task: Row, me: str, rules: PortalRules) -> bool:
    """A task naming clients must name this one (an empty ``Client`` defers to the project)."""
    named = task.links.get(rules.task_client, ())
    return not named or me in map(page_key, named)
