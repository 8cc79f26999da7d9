"""The fewest API calls any tool needs to build a spec in an empty workspace.

Counted under the rules of the API, not of devfactory:

- **1 read** to learn the workspace is empty: without a state, a tool that does not look
  cannot know it is not creating duplicates;
- **1 call** for the root page, when the spec names no parent;
- **1 call per database**: each needs its own create;
- **1 call per seed row**: each page needs its own create;
- **the schema updates no ordering avoids**: a property can go into its database's create only
  if what it needs exists already — a relation needs its target's data source, a rollup
  needs its relation (and, over a two-way relation declared elsewhere, the back property that
  relation creates), a formula needs its inputs, and a relation to the database itself needs
  that database's own id. When these needs form a cycle between databases (A rolls up over a
  relation B declares to A), one of them must be updated after the creates. The bound tries
  *every* creation order (up to 8 new databases; a greedy order beyond) and keeps the least
  updates;
- **1 more write per cycle of row relations** among seed rows (a row cannot point at a row
  that does not exist yet).

:func:`minimum_calls` returns the parts; the deploy benchmark checks that devfactory's plan
for the example equals it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from devfactory.deploy.desired import DesiredWorkspace
from devfactory.deploy.observe import Observation
from devfactory.deploy.state import State

__all__ = ["CallBound", "minimum_calls"]

BRUTE_FORCE_LIMIT = 8


@dataclass(frozen=True)
class CallBound:
    """The parts of the lower bound for building a spec from nothing."""

    discovery_reads: int
    root_page: int
    databases: int
    schema_updates: int
    rows: int
    row_links: int
    orders_tried: int

    @property
    def writes(self) -> int:
        return self.root_page + self.databases + self.schema_updates + self.rows + self.row_links

    @property
    def total(self) -> int:
        return self.discovery_reads + self.writes


def minimum_calls(ws: DesiredWorkspace, *, name_back: bool = True) -> CallBound:
    """The lower bound for ``ws`` in an empty workspace (``name_back``: the target names
    back properties when asked, as the local server does)."""
    from devfactory.deploy.diff import Differ
    from devfactory.deploy.order import Orderer

    state = State(workspace=ws.workspace, environment=ws.environment, target="bound")
    differ = Differ(ws, state, Observation(), name_back=name_back, same_request=name_back)
    differ.root_pass()
    for key, db in ws.databases.items():
        differ.database_pass(key, db)
    differ.dependency_pass()
    base = list(differ.plan.steps)
    orderer = Orderer(differ)

    def updates_for(order: list[str] | None) -> int:
        differ.plan.steps = list(base)
        orderer.plan = differ.plan
        orderer.schedule_schema(order)
        return sum(1 for s in differ.plan.steps if s.kind == "update_data_source")

    keys = list(ws.databases)
    orders: list[list[str] | None] = (
        [list(p) for p in itertools.permutations(keys)]
        if len(keys) <= BRUTE_FORCE_LIMIT
        else [None]
    )
    best = min(updates_for(order) for order in orders)
    differ.plan.steps = []
    orderer.plan = differ.plan
    orderer.rows_pass()
    links = sum(1 for s in differ.plan.steps if s.kind == "update_page")
    rows = len(differ.plan.steps) - links
    return CallBound(
        discovery_reads=1,
        root_page=0 if ws.parent_page_id else 1,
        databases=len(keys),
        schema_updates=best,
        rows=rows,
        row_links=links,
        orders_tried=len(orders),
    )
