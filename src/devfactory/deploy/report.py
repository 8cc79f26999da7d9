"""Apply reports: what was planned, what was done, how many calls, how long, and whether the
workspace verified clean afterwards — one YAML file per apply in ``.devfactory/reports/``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devfactory.deploy.plan import Plan

__all__ = ["ApplyReport", "write_report"]


@dataclass
class ApplyReport:
    """The outcome of one apply."""

    workspace: str
    environment: str
    target: str
    started: float
    finished: float = 0.0
    plan: Plan | None = None
    steps_run: int = 0
    observe_reads: int = 0
    calls_planned: int = 0
    calls_made: int = 0
    retries: int = 0
    lookups: int = 0
    rate_limit_wait: float = 0.0
    verified: bool | None = None
    verify_reads: int = 0
    remaining: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    error: str | None = None
    path: Path | None = None

    @property
    def seconds(self) -> float:
        return max(0.0, self.finished - self.started)

    def to_yaml_data(self) -> dict[str, Any]:
        """The report as plain data (no tokens: nothing secret is ever in a plan)."""
        plan = self.plan
        return {
            "workspace": self.workspace,
            "environment": self.environment,
            "target": self.target,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "seconds": round(self.seconds, 3),
            "result": "error"
            if self.error
            else ("no changes" if plan is not None and plan.empty else "applied"),
            "error": self.error,
            "summary": plan.summary if plan is not None else None,
            "changes": [
                f"{c.symbol} {c.address}: {c.summary}" + (" [destructive]" if c.destructive else "")
                for c in plan.changes
            ]
            if plan is not None
            else [],
            "drift": [f"{c.symbol} {c.address}: {c.summary}" for c in plan.drift]
            if plan is not None
            else [],
            "notes": list(plan.notes) if plan is not None else [],
            "calls": {
                "observe_reads": self.observe_reads,
                "planned": self.calls_planned,
                "made": self.calls_made,
                "retries": self.retries,
                "lookups": self.lookups,
                "steps_run": self.steps_run,
                "rate_limit_wait_seconds": round(self.rate_limit_wait, 3),
            },
            "backups": self.backups,
            "verification": {
                "clean": self.verified,
                "reads": self.verify_reads,
                "remaining": self.remaining,
            },
        }


def write_report(report: ApplyReport, home: Path) -> Path:
    """Write the report under ``home/reports/`` and return its path."""
    directory = home / "reports"
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(report.started))
    path = directory / f"{report.workspace}.{report.environment}.{stamp}.yaml"
    counter = 1
    while path.exists():
        counter += 1
        path = directory / f"{report.workspace}.{report.environment}.{stamp}-{counter}.yaml"
    path.write_text(
        yaml.safe_dump(report.to_yaml_data(), sort_keys=False, allow_unicode=True, width=1000)
    )
    report.path = path
    return path
