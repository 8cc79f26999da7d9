"""What has been deployed, read from ``$DEVFACTORY_HOME``: apply reports, backups, states,
and verification suite results.

Pure file reading, no Notion calls: reports are the YAML files of
:func:`devfactory.deploy.report.write_report`, backups the encrypted ``.dfbak`` files (only
their names and sizes are read; nothing is decrypted), states the JSON files of
:class:`devfactory.deploy.state.StateFile`, suite results the YAML files of
:func:`devfactory.suites.report.save_history`. A file that cannot be read is listed with an
``error`` instead of failing the whole answer.
"""

from __future__ import annotations

import json
import re
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from devfactory.mcp.access import Principal

__all__ = ["backups", "databases", "deployments", "latest_verification"]

_STAMP = re.compile(r"^(?P<ws>.+)\.(?P<env>[^.]+)\.(?P<stamp>\d{8}T\d{6}Z?)(?:-\d+)?$")
_LEVEL = {"read": 1, "write": 2, "deploy": 3}


def _stamp(text: str) -> str | None:
    try:
        moment = datetime.strptime(text.rstrip("Z"), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def deployments(home: Path, *, limit: int = 100) -> list[dict[str, Any]]:
    """Apply reports, newest first, as summaries (without the full change lists)."""
    found = sorted((home / "reports").glob("*.yaml"), key=lambda p: p.stat().st_mtime, reverse=True)
    out: list[dict[str, Any]] = []
    for path in found[:limit]:
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            out.append({"file": path.name, "error": f"unreadable report: {exc}"})
            continue
        if not isinstance(data, dict):
            out.append({"file": path.name, "error": "not a report"})
            continue
        verification = data.get("verification") or {}
        out.append(
            {
                "file": path.name,
                "workspace": data.get("workspace"),
                "environment": data.get("environment"),
                "target": data.get("target"),
                "started": data.get("started"),
                "seconds": data.get("seconds"),
                "result": data.get("result"),
                "error": data.get("error"),
                "summary": data.get("summary"),
                "changes": len(data.get("changes") or []),
                "drift": len(data.get("drift") or []),
                "calls": data.get("calls"),
                "verified": verification.get("clean") if isinstance(verification, dict) else None,
                "backups": data.get("backups") or [],
            }
        )
    return out


def backups(home: Path) -> list[dict[str, Any]]:
    """Backup files, newest first, each with the command that restores it."""
    found = sorted((home / "backups").glob("*.dfbak"), key=lambda p: p.name, reverse=True)
    out: list[dict[str, Any]] = []
    for path in found:
        match = _STAMP.match(path.name.removesuffix(".dfbak"))
        out.append(
            {
                "file": path.name,
                "path": str(path),
                "workspace": match["ws"] if match else None,
                "environment": match["env"] if match else None,
                "created": _stamp(match["stamp"]) if match else None,
                "bytes": path.stat().st_size,
                "restore_command": f"devfactory restore {shlex.quote(str(path))}",
            }
        )
    return out


def access_level(principal: Principal, database: str) -> str | None:
    """What ``principal`` may do with the logical database (None: nothing).

    Without per-database grants the role decides: viewers read, operators write, admins
    deploy; with grants, the grant decides, capped by the role (a viewer never writes).
    """
    cap = {"viewer": "read", "operator": "write", "admin": "deploy"}.get(principal.role)
    if cap is None:
        return None
    if principal.databases is None:
        return cap
    granted = principal.databases.get(database)
    if granted is None:
        return None
    return granted if _LEVEL.get(granted, 0) <= _LEVEL[cap] else cap


def databases(home: Path, principal: Principal) -> list[dict[str, Any]]:
    """The logical databases of every deploy state the caller may at least read."""
    out: list[dict[str, Any]] = []
    for path in sorted((home / "state").glob("*.json")):
        try:
            data = json.loads(path.read_text())
            workspace, environment = data["workspace"], data["environment"]
            items = dict(data.get("databases") or {})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            out.append({"file": path.name, "error": f"unreadable state: {exc}"})
            continue
        for key, db in sorted(items.items()):
            level = access_level(principal, key)
            if level is None or not isinstance(db, dict):
                continue
            out.append(
                {
                    "database": key,
                    "workspace": workspace,
                    "environment": environment,
                    "target": data.get("target"),
                    "database_id": db.get("database_id"),
                    "data_source_id": db.get("data_source_id"),
                    "properties": len(db.get("properties") or {}),
                    "seed_rows": len(db.get("rows") or {}),
                    "access": level,
                }
            )
    return out


def _check_summary(check: Any) -> dict[str, Any]:
    item = check if isinstance(check, dict) else {}
    return {
        "id": str(item.get("id", "?")),
        "description": str(item.get("description", "")),
        "result": str(item.get("result", "?")),
        "detail": str(item.get("detail") or ""),
    }


def latest_verification(home: Path) -> list[dict[str, Any]]:
    """The newest suite run per suite, workspace and environment, newest first, each with
    its checks (id, description, result, detail) — from ``home/verification/*.yaml``."""
    found = sorted(
        (home / "verification").glob("*.yaml"), key=lambda p: (p.stat().st_mtime, p.name)
    )
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for path in reversed(found):
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            latest[(path.name,)] = {"file": path.name, "error": f"unreadable results: {exc}"}
            continue
        if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
            latest[(path.name,)] = {"file": path.name, "error": "not suite results"}
            continue
        key = (data.get("suite"), data.get("workspace"), data.get("environment"))
        if key in latest:
            continue  # an older run of the same suite, workspace and environment
        latest[key] = {
            "file": path.name,
            "suite": data.get("suite"),
            "workspace": data.get("workspace"),
            "environment": data.get("environment"),
            "target": data.get("target"),
            "started": data.get("started"),
            "seconds": data.get("seconds"),
            "result": data.get("result"),
            "summary": data.get("summary"),
            "checks": [_check_summary(c) for c in data["checks"]],
        }
    return list(latest.values())
