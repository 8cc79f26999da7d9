"""Replay the recorded real Notion traffic (../shared/conformance) against a fresh server.

Every interaction must pass except those listed in docs/conformance.md, whose expectation
depends on what the recorder's workspace already held. The test reads that list, so the
document and the behaviour cannot drift apart.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import notion_client
import pytest

from devfactory.emulator.testing import LocalNotion

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "conformance.md"


def shared_dir() -> Path | None:
    candidates = [os.environ.get("DEVFACTORY_SHARED_DIR"), str(ROOT.parent / "shared")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "conformance" / "notion-sdk-py").is_dir():
            return Path(candidate)
    return None


def documented_exceptions() -> set[tuple[str, int]]:
    """(cassette, interaction index) pairs listed in docs/conformance.md's table."""
    found = set()
    for match in re.finditer(
        r"^\| `(test_[a-z_]+\.yaml)` \| #(\d+) ", DOC.read_text(), re.MULTILINE
    ):
        found.add((match.group(1), int(match.group(2))))
    return found


@pytest.mark.conformance
def test_recorded_notion_traffic_replays(tmp_path: Path) -> None:
    """All 332 comparable recorded interactions pass but the documented state-dependent ones."""
    shared = shared_dir()
    if shared is None:
        if os.environ.get("DEVFACTORY_REQUIRE_CONFORMANCE"):
            pytest.fail(
                "DEVFACTORY_REQUIRE_CONFORMANCE is set but ../shared/conformance was not found"
            )
        pytest.skip("../shared/conformance is not present on this machine")
    with LocalNotion.start(token="ntn_conformance_replay_token") as notion:
        client = notion_client.Client(auth=notion.token, base_url=notion.base_url, retry=False)
        parent = client.pages.create(
            parent={"type": "workspace", "workspace": True}, properties={"title": []}
        )
        client.close()
        out = subprocess.run(
            [
                sys.executable,
                str(shared / "tools" / "notion-replay"),
                "--base-url",
                notion.base_url,
                "--token",
                notion.token,
                "--parent-page-id",
                parent["id"],
                "--json",
                str(shared / "conformance" / "notion-sdk-py"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
    report = json.loads(out.stdout)
    (tmp_path / "replay.json").write_text(out.stdout)
    failures = {
        (cassette["name"], interaction["index"])
        for cassette in report["cassettes"]
        for interaction in cassette["interactions"]
        if interaction["outcome"] == "fail"
    }
    assert documented_exceptions() == failures
    summary = report["summary"]
    assert 332 == summary["compared"]
    assert summary["passed"] == 332 - len(failures)
    assert f"**{summary['passed']} of 332**" in DOC.read_text()
