"""Plans: the changes a person reads and the steps (one API call each) an apply runs.

:func:`make_plan` diffs (:mod:`devfactory.deploy.diff`) and schedules
(:mod:`devfactory.deploy.order`); :class:`Plan` round-trips through JSON so a saved plan
can be applied later, exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from devfactory.deploy.desired import (
    COMPUTED_TYPES,
    DesiredProperty,
    DesiredWorkspace,
)
from devfactory.deploy.observe import (
    Observation,
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
    # seed rows whose values did not change but whose property names did (a rename): the
    # apply records their new hash, without a call
    row_hashes: dict[str, dict[str, str]] = field(default_factory=dict)

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
            row_hashes={k: dict(v) for k, v in data.get("row_hashes", {}).items()},
        )


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
    from devfactory.deploy.diff import Differ  # here: diff and order import this module
    from devfactory.deploy.order import Orderer

    differ = Differ(
        ws,
        state,
        seen,
        name_back=name_back,
        same_request=name_back if same_request is None else same_request,
    )
    differ.in_use_options = in_use_options or {}
    differ.root_pass()
    for key, db in ws.databases.items():
        differ.database_pass(key, db)
    differ.dependency_pass()
    orderer = Orderer(differ)
    orderer.schedule_schema()
    orderer.rows_pass()
    differ.notes_pass()
    return differ.plan


def computed(prop: DesiredProperty) -> bool:
    """Whether a property's values are computed by Notion."""
    return prop.type in COMPUTED_TYPES
