"""Run a plan's steps: one API call each, the state saved after every one.

Placeholders in step payloads (``{"$ref": "ds", "db": "clients"}``, or property keys
``"$ref:{…}"``) are resolved from the state just before the call, so ids made by earlier
steps flow into later ones — and a saved plan stays valid to apply later. Creates carry a
lookup, so a create whose answer was lost is found instead of made twice.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from devfactory.deploy.desired import DesiredWorkspace
from devfactory.deploy.observe import find_database_under, find_root_page, find_rows, plain
from devfactory.deploy.plan import Plan, Step
from devfactory.deploy.state import DatabaseState, RowState, State, StateFile
from devfactory.errors import InternalError, PlanError
from devfactory.notion.api import Idempotency, NotionAPI
from devfactory.notion.target import NotionSession

__all__ = ["StepRunner", "adopt", "resolve"]

Json = dict[str, Any]
OnStep = Callable[[int, Step], None]


def resolve(value: Any, state: State, ws: DesiredWorkspace) -> Any:
    """Replace ``$ref`` placeholders with ids from the state."""
    if isinstance(value, list):
        return [resolve(item, state, ws) for item in value]
    if not isinstance(value, dict):
        return value
    if "$ref" in value:
        return _lookup(value, state, ws)
    out = {}
    for key, item in value.items():
        if isinstance(key, str) and key.startswith("$ref:"):
            key = _lookup(json.loads(key[5:]), state, ws)
        out[key] = resolve(item, state, ws)
    return out


def _lookup(ref: Json, state: State, ws: DesiredWorkspace) -> str:
    kind = ref["$ref"]
    try:
        if kind == "parent":
            parent = ws.parent_page_id or state.root_page_id
            if parent is None:
                raise KeyError("root page")
            return parent
        if kind == "root":
            if state.root_page_id is None:
                raise KeyError("root page")
            return state.root_page_id
        db = state.databases[ref["db"]]
        if kind == "ds":
            return db.data_source_id
        if kind == "db":
            return db.database_id
        if kind == "prop":
            return db.properties[ref["name"]]
        if kind == "row":
            return db.rows[ref["title"]].page_id
    except KeyError as exc:
        raise InternalError(
            f"plan step refers to {ref} which the state does not know ({exc})"
        ) from exc
    raise InternalError(f"unknown reference kind {kind!r}")


def adopt(plan: Plan, state: State) -> None:
    """Record in the state what the plan found and matched (no API call)."""
    root = plan.adopted.get("root")
    if root:
        state.root_page_id = root["page_id"]
    for key, ids in plan.adopted.items():
        if key in ("root", "rows"):
            continue
        state.databases[key] = DatabaseState(
            database_id=ids["database_id"], data_source_id=ids["data_source_id"]
        )
    for key, rows in plan.adopted.get("rows", {}).items():
        if key in state.databases:
            for title, page_id in rows.items():
                state.databases[key].rows[title] = RowState(page_id, "")
    for key, bindings in plan.bindings.items():
        if key in state.databases:
            known = state.databases[key].properties
            bound = set(bindings.values())
            for name in [n for n, i in known.items() if i in bound and bindings.get(n) != i]:
                del known[name]  # an old name of a property bound under its new one
            known.update(bindings)
    for key, hashes in plan.row_hashes.items():
        rows = state.databases[key].rows if key in state.databases else {}
        for title, digest in hashes.items():
            if title in rows:
                rows[title].hash = digest


class StepRunner:
    """Executes steps against a session, recording results in the state."""

    def __init__(
        self,
        session: NotionSession,
        api: NotionAPI,
        state: State,
        state_file: StateFile,
        ws: DesiredWorkspace,
    ) -> None:
        self.session = session
        self.api = api
        self.state = state
        self.state_file = state_file
        self.ws = ws

    async def run(self, plan: Plan, on_step: OnStep | None = None) -> int:
        """Execute every step in order; returns how many ran."""
        for index, step in enumerate(plan.steps):
            await self.run_step(step)
            self.state_file.save(self.state)
            if on_step is not None:
                on_step(index, step)
        return len(plan.steps)

    async def run_step(self, step: Step) -> Json:
        """One step: resolve, call (with retries and lookups), record."""
        payload = resolve(step.payload, self.state, self.ws)
        handler = getattr(self, f"_{step.kind}", None)
        if handler is None:
            raise PlanError(f"unknown step kind {step.kind!r} (plan from a newer devfactory?)")
        result: Json = await handler(step, payload)
        return result

    async def _call(
        self,
        fn: Callable[[], Awaitable[Any]],
        label: str,
        *,
        lookup: Callable[[], Awaitable[Json | None]] | None = None,
    ) -> Json:
        # Creates carry a lookup: resolved before any retry. Everything else is an update.
        idempotency = Idempotency.IDEMPOTENT if lookup is None else Idempotency.UNSAFE
        return await self.api.call(fn, idempotency=idempotency, resolve=lookup, label=label)

    async def _create_root_page(self, step: Step, payload: Json) -> Json:
        client = self.session.client
        title = plain(payload["properties"]["title"]["title"])
        page = await self._call(
            partial(client.pages.create, **payload),
            step.label,
            lookup=partial(find_root_page, self.api, self.session, title),
        )
        self.state.root_page_id = page["id"]
        return page

    async def _update_page_trash(self, step: Step, payload: Json) -> Json:
        return await self._call(
            partial(
                self.session.client.pages.update, payload["page"], in_trash=payload["in_trash"]
            ),
            step.label,
        )

    async def _create_database(self, step: Step, payload: Json) -> Json:
        client = self.session.client
        parent = payload["parent"]["page_id"]
        title = plain(payload["title"])
        claimed = {db.database_id for db in self.state.databases.values()}
        db = await self._call(
            partial(client.databases.create, **payload),
            step.label,
            lookup=partial(find_database_under, self.api, self.session, parent, title, claimed),
        )
        assert step.database is not None
        sources = db.get("data_sources") or []
        if not sources:
            raise InternalError(f"database {db.get('id')} came back without a data source")
        self.state.databases[step.database] = DatabaseState(
            database_id=db["id"],
            data_source_id=sources[0]["id"],
            description=self.ws.databases[step.database].description,
            icon=self.ws.databases[step.database].icon,
        )
        return db

    async def _update_database(self, step: Step, payload: Json) -> Json:
        body = dict(payload)
        database_id = body.pop("database")
        db = await self._call(
            partial(self.session.client.databases.update, database_id, **body), step.label
        )
        if step.database is not None and step.database in self.state.databases:
            known = self.state.databases[step.database]
            if "description" in body:
                known.description = self.ws.databases[step.database].description
            if "icon" in body:
                known.icon = self.ws.databases[step.database].icon
        return db

    async def _update_data_source(self, step: Step, payload: Json) -> Json:
        body = dict(payload)
        data_source_id = body.pop("data_source")
        data = await self._call(
            partial(self.session.client.data_sources.update, data_source_id, **body), step.label
        )
        assert step.database is not None
        known = self.state.databases[step.database]
        properties = data.get("properties", {})
        for name in step.names:
            if name in properties:
                known.properties[name] = properties[name]["id"]
        for relation, target, back_name in step.backs:
            config = properties.get(relation, {}).get("relation", {})
            synced = (config.get("dual_property") or {}).get("synced_property_id")
            if synced and target in self.state.databases:
                self.state.databases[target].properties[back_name] = synced
        return data

    async def _create_page(self, step: Step, payload: Json) -> Json:
        body = dict(payload)
        digest = body.pop("hash", "")
        assert step.database is not None and step.row is not None
        data_source_id = body["parent"]["data_source_id"]

        async def lookup() -> Json | None:
            found = await find_rows(self.api, self.session, data_source_id, [step.row or ""])
            return {"id": found[step.row]} if step.row in found else None

        page = await self._call(
            partial(self.session.client.pages.create, **body), step.label, lookup=lookup
        )
        self.state.databases[step.database].rows[step.row] = RowState(page["id"], digest)
        return page

    async def _update_page(self, step: Step, payload: Json) -> Json:
        body = dict(payload)
        digest = body.pop("hash", "")
        page_id = body.pop("page")
        page = await self._call(
            partial(self.session.client.pages.update, page_id, **body), step.label
        )
        if step.database is not None and step.row is not None and digest:
            self.state.databases[step.database].rows[step.row] = RowState(page_id, digest)
        return page
