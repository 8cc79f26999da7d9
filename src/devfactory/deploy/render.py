"""Plans as people read them: Terraform's symbols, grouped by database, with the call count."""

from __future__ import annotations

from devfactory.deploy.plan import Change, Plan

__all__ = ["NOTION_RATE", "render_plan", "summary_line"]

NOTION_RATE = 3.0  # requests/s Notion allows an integration on average

_HEADERS = {
    "create": "will be created",
    "update": "will be updated in place",
    "delete": "will be destroyed",
    "replace": "must be replaced",
    "adopt": "exists and will be adopted",
    "restore": "will be restored from the trash",
}
_KIND_NAMES = {
    "create_root_page": "create root page",
    "update_page_trash": "restore page",
    "create_database": "create database",
    "update_database": "update database",
    "update_data_source": "update data source",
    "create_page": "create page",
    "update_page": "update page",
}


def summary_line(plan: Plan) -> str:
    """``Plan: X to add, Y to change, Z to destroy.`` (or Terraform's no-changes line)."""
    if plan.empty:
        return "No changes. The workspace matches the spec."
    s = plan.summary
    return f"Plan: {s['add']} to add, {s['change']} to change, {s['destroy']} to destroy."


def _reads(n: int) -> str:
    return f"{n} read" if n == 1 else f"{n} reads"


def calls_line(plan: Plan, rate: float | None) -> str:
    """The promise: how many calls, of which kinds, and how long at the target's rate limit
    (a target without one, like the embedded server, gets the time at Notion's)."""
    total = len(plan.steps)
    if not total:
        return f"API calls: 0 (observing made {_reads(plan.observe_reads)})."
    kinds = ", ".join(f"{n} {_KIND_NAMES.get(k, k)}" for k, n in plan.calls_by_kind().items())
    if rate:
        timing = f"about {total / rate:.1f} s at {rate:g} requests/s"
    else:
        timing = (
            f"no rate limit on this target; about {total / NOTION_RATE:.1f} s at Notion's "
            f"{NOTION_RATE:g} requests/s"
        )
    return f"API calls: {total} ({kinds}) — {timing}; observing made {_reads(plan.observe_reads)}."


def _change_lines(change: Change) -> list[str]:
    mark = "   [destructive]" if change.destructive else ""
    lines = [f"  {change.symbol} {change.summary}{mark}"]
    lines += [f"      {detail}" for detail in change.details]
    return lines


def render_plan(plan: Plan, *, rate: float | None = None) -> str:
    """The plan as text."""
    out = [f"Workspace {plan.workspace}, environment {plan.environment}, target {plan.target}", ""]
    groups: dict[str, list[Change]] = {}
    for change in plan.changes:
        groups.setdefault(change.database or change.address, []).append(change)
    for group, changes in groups.items():
        database_change = next(
            (c for c in changes if "." not in c.address.removeprefix("databases.")), None
        )
        if database_change is not None:
            out.append(
                f"  # {database_change.address} {_HEADERS.get(database_change.action, '')}".rstrip()
            )
        else:
            out.append(
                f"  # databases.{group} will be updated in place"
                if changes[0].database
                else f"  # {group}"
            )
        for change in changes:
            out += _change_lines(change)
        out.append("")
    if plan.drift:
        out.append("Drift (changed outside devfactory; the plan above puts it back):")
        out += [f"  {c.symbol} {c.address}: {c.summary}" for c in plan.drift]
        out.append("")
    if plan.notes:
        out.append("Notes:")
        out += [f"  # {note}" for note in plan.notes]
        out.append("")
    if plan.refused:
        out.append("Refused:")
        out += [f"  ! {reason}" for reason in plan.refused]
        out.append("")
    out.append(summary_line(plan))
    out.append(calls_line(plan, rate))
    return "\n".join(out)
