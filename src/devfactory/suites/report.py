"""Suite reports on disk and on screen: YAML for people and the dashboard, JUnit XML for CI,
a Rich table for the terminal.

Every run is also kept as ``$DEVFACTORY_HOME/verification/<workspace>.<env>.<UTC time>.yaml``
(the dashboard's Deployments page shows the newest per workspace and environment). JUnit is
written with :mod:`xml.etree` — one ``testcase`` per check, a ``failure`` for a failed check,
an ``error`` for one that could not run, ``skipped`` for one with nothing to check.
"""

from __future__ import annotations

import socket
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml
from rich.markup import escape
from rich.table import Table

from devfactory.suites.result import CheckResult, Outcome, SuiteReport

__all__ = [
    "junit_xml",
    "results_table",
    "save_history",
    "to_data",
    "write_junit",
    "write_yaml",
]

_MARKS = {
    Outcome.PASSED: "[green]✓[/green]",
    Outcome.FAILED: "[red]✗[/red]",
    Outcome.ERROR: "[red]![/red]",
    Outcome.SKIPPED: "[dim]-[/dim]",
}
_COLOURS = {
    Outcome.PASSED: "green",
    Outcome.FAILED: "red",
    Outcome.ERROR: "red",
    Outcome.SKIPPED: "dim",
}


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def _verdict(report: SuiteReport) -> str:
    return {0: "pass", 1: "error", 2: "fail"}[report.exit_code]


def to_data(report: SuiteReport) -> dict[str, Any]:
    """The report as plain data (what the YAML file holds)."""
    return {
        "suite": report.suite,
        "workspace": report.workspace,
        "environment": report.environment,
        "target": report.target,
        "started": _iso(report.started),
        "seconds": round(report.seconds, 3),
        "result": _verdict(report),
        "exit_code": report.exit_code,
        "summary": {outcome.value: report.count(outcome) for outcome in Outcome},
        "checks": [
            {
                "id": check.id,
                "description": check.description,
                "result": check.outcome.value,
                "detail": check.detail,
                "seconds": round(check.seconds, 3),
                "steps": list(check.steps),
            }
            for check in report.checks
        ],
    }


def write_yaml(report: SuiteReport, path: Path) -> Path:
    """Write the report as YAML to ``path`` (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        yaml.safe_dump(to_data(report), sort_keys=False, allow_unicode=True, width=1000)
    )
    return path


def save_history(report: SuiteReport, home: Path) -> Path:
    """Keep the run under ``home/verification/`` with its UTC time in the name."""
    folder = home / "verification"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(report.started))
    name = f"{report.workspace}.{report.environment}.{stamp}"
    path = folder / f"{name}.yaml"
    counter = 1
    while path.exists():
        counter += 1
        path = folder / f"{name}-{counter}.yaml"
    return write_yaml(report, path)


def _testcase(suite: ET.Element, report: SuiteReport, check: CheckResult) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        name=f"{check.id}: {check.description}",
        classname=f"devfactory.{report.suite}.{report.workspace}.{report.environment}",
        time=f"{check.seconds:.3f}",
    )
    body = "\n".join(check.steps)
    message = check.detail or check.outcome.value
    if check.outcome is Outcome.FAILED:
        ET.SubElement(case, "failure", message=message, type="CheckFailed").text = body or message
    elif check.outcome is Outcome.ERROR:
        ET.SubElement(case, "error", message=message, type="CheckError").text = body or message
    elif check.outcome is Outcome.SKIPPED:
        ET.SubElement(case, "skipped", message=message)
    elif body:
        ET.SubElement(case, "system-out").text = body


def junit_xml(report: SuiteReport) -> bytes:
    """The report as JUnit XML: one ``testsuite`` (the suite), one ``testcase`` per check."""
    counts = {
        "tests": str(len(report.checks)),
        "failures": str(report.count(Outcome.FAILED)),
        "errors": str(report.count(Outcome.ERROR)),
        "skipped": str(report.count(Outcome.SKIPPED)),
        "time": f"{report.seconds:.3f}",
    }
    root = ET.Element("testsuites", {"name": f"devfactory verify --suite {report.suite}", **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": f"{report.suite} {report.workspace} ({report.environment})",
            "timestamp": _iso(report.started),
            "hostname": socket.gethostname(),
            **counts,
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name in ("workspace", "environment", "target"):
        ET.SubElement(properties, "property", name=name, value=str(getattr(report, name)))
    for check in report.checks:
        _testcase(suite, report, check)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def write_junit(report: SuiteReport, path: Path) -> Path:
    """Write the JUnit XML to ``path`` (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(junit_xml(report))
    return path


def results_table(report: SuiteReport) -> Table:
    """One row per check for the terminal; the detail of a check that did not pass below it."""
    table = Table(
        title=f"{report.suite.upper()} suite: {report.workspace} ({report.environment}) "
        f"on {report.target}",
        title_justify="left",
    )
    table.add_column("", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("description", ratio=2)
    table.add_column("result", no_wrap=True)
    table.add_column("detail", ratio=3)
    for check in report.checks:
        colour = _COLOURS[check.outcome]
        table.add_row(
            _MARKS[check.outcome],
            escape(check.id),
            escape(check.description),
            f"[{colour}]{check.outcome.value}[/{colour}]",
            escape(check.detail),
        )
    return table
