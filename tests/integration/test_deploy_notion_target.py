"""The real-Notion code path (NOTION_TOKEN + NOTION_BASE_URL), run against the local server on
loopback: no workspace-level root page, a parent page required, and back properties named by
a call of their own, since the engine does not rely on Notion doing either."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import notion_client
import pytest

from devfactory.config import Settings
from devfactory.deploy.bound import minimum_calls
from devfactory.deploy.engine import load_workspace
from devfactory.emulator.testing import LocalNotion
from devfactory.errors import TargetError
from devfactory.notion.target import Target, resolve_target
from tests.integration.deploy_helpers import apply, desired, plan, spec_data, verify

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "consulting" / "workspace.yaml"
BIN = Path(sys.executable).parent / "devfactory"


@pytest.fixture(scope="module")
def notion() -> Any:
    with LocalNotion.start() as server:
        yield server


def notion_target(server: Any, home: Path) -> Target:
    settings = Settings(home=home, notion_token=server.token, notion_base_url=server.base_url)
    target = resolve_target(settings)
    assert "notion" == target.kind
    assert not target.creates_root_pages and not target.names_back_properties
    return target


def parent_page(server: Any, title: str) -> str:
    client = notion_client.Client(auth=server.token, base_url=server.base_url)
    page = client.pages.create(
        parent={"workspace": True}, properties={"title": [{"text": {"content": title}}]}
    )
    client.close()
    return str(page["id"])


def test_no_parent_is_a_clear_error(notion: Any, tmp_path: Path) -> None:
    """Without a parent page the real API cannot hold the workspace: say so, change nothing."""
    target = notion_target(notion, tmp_path)
    with pytest.raises(TargetError, match=r"add `parent: \{page_id: …\}`"):
        plan(desired(spec_data()), target, tmp_path)


def test_cli_without_parent_exits_one_with_the_fix(notion: Any, tmp_path: Path) -> None:
    """The same through the CLI with NOTION_TOKEN set: exit 1, no traceback."""
    env = {
        **os.environ,
        "DEVFACTORY_HOME": str(tmp_path),
        "NOTION_TOKEN": notion.token,
        "NOTION_BASE_URL": notion.base_url,
    }
    result = subprocess.run(
        [str(BIN), "plan", str(EXAMPLE), "--env", "dev"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert 1 == result.returncode and "Traceback" not in result.stderr
    assert "parent" in result.stderr and notion.token not in result.stderr + result.stdout


def test_apply_under_a_parent_converges_with_the_promised_calls(
    notion: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example under a parent page: the plan's count is the bound's for this target
    (back properties renamed by their own calls), the apply makes exactly that many calls,
    verify is clean, and a second plan is empty."""
    monkeypatch.setenv("NOTION_PARENT_PAGE_ID", parent_page(notion, "Client work"))
    _, ws = load_workspace(EXAMPLE, "prod")
    target = notion_target(notion, tmp_path)
    planned = plan(ws, target, tmp_path)
    kinds = planned.calls_by_kind()
    assert "create_root_page" not in kinds
    assert minimum_calls(ws, name_back=False).writes == len(planned.steps)
    report = apply(ws, target, tmp_path)
    assert report.error is None and report.verified is True
    assert len(planned.steps) == report.calls_made
    result = verify(ws, target, tmp_path)
    assert 0 == result.exit_code
    assert plan(ws, target, tmp_path).empty


def test_back_property_is_renamed_in_the_same_apply(notion: Any, tmp_path: Path) -> None:
    """Notion names a new back property itself ("Related to …"); the apply renames it to
    ``synced_as`` at once, so the rollup over it works."""
    data = spec_data()
    data["parent"] = {"page_id": parent_page(notion, "Back names")}
    ws = desired(data)
    target = notion_target(notion, tmp_path)
    report = apply(ws, target, tmp_path)
    assert report.verified is True

    async def clients_schema() -> dict[str, Any]:
        from devfactory.deploy.state import StateFile
        from devfactory.notion.target import NotionSession

        state = StateFile(tmp_path, ws.workspace, ws.environment).load(target.label)
        async with NotionSession(target) as session:
            ds = await session.client.data_sources.retrieve(
                state.databases["clients"].data_source_id
            )
            return dict(ds["properties"])

    props = asyncio.run(clients_schema())
    assert "relation" == props["Projects"]["type"]
    assert not any(name.startswith("Related to") for name in props)
