"""Reliability: apply converges through injected faults (commit-then-fail included) and
through kill -9 at random moments, and never leaves a duplicate database, property or row."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from devfactory.deploy.engine import load_workspace
from devfactory.deploy.state import StateFile
from devfactory.emulator.faults import FAULT_KINDS
from devfactory.emulator.testing import LocalNotion
from tests.integration.deploy_helpers import apply, local, verify

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "consulting" / "workspace.yaml"
BIN = Path(sys.executable).parent / "devfactory"


def census(notion: LocalNotion, ws: Any, home: Path, target: Any) -> dict[str, Any]:
    """What exists on the server for this workspace: databases by title, rows by title."""
    state = StateFile(home, ws.workspace, ws.environment).load(target.label)
    headers = notion.headers()
    children = httpx.get(
        f"{notion.base_url}/v1/blocks/{state.root_page_id}/children", headers=headers
    ).json()["results"]
    databases = [b["child_database"]["title"] for b in children if b["type"] == "child_database"]
    rows: dict[str, list[str]] = {}
    properties: dict[str, list[str]] = {}
    for key, db in state.databases.items():
        ds = httpx.get(
            f"{notion.base_url}/v1/data_sources/{db.data_source_id}", headers=headers
        ).json()
        properties[key] = list(ds["properties"])
        found = httpx.post(
            f"{notion.base_url}/v1/data_sources/{db.data_source_id}/query", headers=headers, json={}
        ).json()["results"]
        rows[key] = [
            "".join(
                t["plain_text"]
                for p in r["properties"].values()
                if p["type"] == "title"
                for t in p["title"]
            )
            for r in found
        ]
    roots = httpx.post(
        f"{notion.base_url}/v1/search",
        headers=headers,
        json={"query": "consulting", "filter": {"property": "object", "value": "page"}},
    ).json()
    root_pages = [r for r in roots["results"] if r["parent"]["type"] == "workspace"]
    return {
        "databases": databases,
        "rows": rows,
        "properties": properties,
        "roots": len(root_pages),
    }


def assert_no_duplicates(found: dict[str, Any], ws: Any) -> None:
    assert 1 == found["roots"]
    assert sorted(db.title for db in ws.databases.values()) == sorted(found["databases"])
    for key, db in ws.databases.items():
        titles = found["rows"][key]
        assert len(titles) == len(set(titles)), f"duplicate rows in {key}: {titles}"
        assert {str(r[db.title_property]) for r in db.rows} == set(titles)
        assert len(found["properties"][key]) == len(set(found["properties"][key]))


def test_apply_converges_through_thirty_percent_faults(tmp_path: Path) -> None:
    """30% of requests fail in every way the server offers; apply still converges, verify is
    clean, and nothing exists twice."""
    _, ws = load_workspace(EXAMPLE, "dev")
    kinds = list(FAULT_KINDS)
    rules = [
        {"kind": k, "probability": 0.3 / len(kinds), "retry_after": 0, "delay": 0.05} for k in kinds
    ]
    home = tmp_path / "home"
    with LocalNotion.start() as notion:
        notion.admin("PUT", "faults", {"rules": rules, "seed": 11})
        target = local(notion.base_url, notion.token)
        report = apply(ws, target, home)
        injected = notion.admin("GET", "state")["faults"]["injected"]
        notion.admin("DELETE", "faults")
        assert report.verified is True
        assert sum(injected.values()) >= 10 and "commit_then_fail" in injected
        assert report.retries > 0 and report.lookups > 0
        assert report.calls_made >= report.calls_planned
        assert 0 == verify(ws, target, home).exit_code
        assert_no_duplicates(census(notion, ws, home, target), ws)


def run_apply(notion: LocalNotion, home: Path, *, kill_after: float | None) -> int | None:
    env = {
        **os.environ,
        "DEVFACTORY_HOME": str(home),
        "DEVFACTORY_EMULATOR_TOKEN": notion.token,
        "DEVFACTORY_NOTION_RATE": "15",
    }
    env.pop("NOTION_TOKEN", None)
    proc = subprocess.Popen(
        [
            str(BIN),
            "apply",
            str(EXAMPLE),
            "--env",
            "dev",
            "--auto-approve",
            "--target",
            notion.base_url,
            "--no-verify",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if kill_after is None:
        _, stderr = proc.communicate(timeout=120)
        assert 0 == proc.returncode, stderr.decode()[-2000:]
        return proc.returncode
    time.sleep(kill_after)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    return None


def crash_trials(trials: int, seed: int, tmp_path: Path) -> int:
    """Kill applies at random moments, then apply to the end; returns how many kills landed
    in the middle of an apply (some state written, not all of it)."""
    rng = random.Random(seed)
    _, ws = load_workspace(EXAMPLE, "dev")
    seed_rows = sum(len(db.rows) for db in ws.databases.values())
    mid_apply = 0
    with LocalNotion.start() as notion:
        target = local(notion.base_url, notion.token)
        for trial in range(trials):
            home = tmp_path / f"home{trial}"
            for _ in range(rng.randint(1, 3)):
                run_apply(notion, home, kill_after=rng.uniform(0.6, 3.0))
                state_file = StateFile(home, ws.workspace, ws.environment)
                if state_file.path.exists():
                    partial = state_file.load(target.label)
                    if sum(len(db.rows) for db in partial.databases.values()) < seed_rows:
                        mid_apply += 1
            run_apply(notion, home, kill_after=None)
            assert 0 == verify(ws, target, home).exit_code
            found = census(notion, ws, home, target)
            assert_no_duplicates(found, ws)
            # the next trial starts from an empty workspace: trash this one's root page
            state = StateFile(home, ws.workspace, ws.environment).load(target.label)
            httpx.delete(
                f"{notion.base_url}/v1/blocks/{state.root_page_id}", headers=notion.headers()
            )
    return mid_apply


def test_kill_minus_nine_then_apply_again(tmp_path: Path) -> None:
    """A few kill -9 trials: after the next apply, converged and no duplicates."""
    crash_trials(3, seed=1, tmp_path=tmp_path)


@pytest.mark.slow
def test_kill_minus_nine_twenty_trials(tmp_path: Path) -> None:
    """Twenty kill -9 trials at random moments, many of them in the middle of an apply."""
    assert crash_trials(20, seed=2, tmp_path=tmp_path) >= 5
