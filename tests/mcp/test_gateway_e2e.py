"""End to end through ``devfactory gateway`` as a process, over SSE: a destructive Notion call
halts at the gate, a person approves it with ``devfactory approvals approve``, and the
agent's retry succeeds once; the next identical call halts again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import notion_client
import pytest
import yaml
from mcp.client import Client
from mcp.client.sse import sse_client
from pydantic import SecretStr

from devfactory.config import Settings
from devfactory.deploy.engine import ApplyOptions, apply_workspace, load_workspace
from devfactory.deploy.state import StateFile
from devfactory.emulator.testing import LocalNotion
from devfactory.notion.target import resolve_target
from tests.conftest import TOKEN
from tests.mcp.test_gateway_cli import start

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "consulting" / "workspace.yaml"
BIN = Path(sys.executable).parent / "devfactory"


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[tuple[LocalNotion, Settings, str]]:
    """The consulting example on a local server; the clients data source id."""
    with LocalNotion.start(path=tmp_path / "notion.db", token=TOKEN) as notion:
        settings = Settings(
            home=tmp_path / "home", emulator_token=SecretStr(notion.token), notion_rate=1000
        )
        _, ws = load_workspace(SPEC, None)
        target = resolve_target(settings, notion.base_url)
        report = asyncio.run(
            apply_workspace(
                ws, target, settings.home, ApplyOptions(auto_approve=True, verify=False)
            )
        )
        assert report.error is None
        state = StateFile(settings.home, ws.workspace, ws.environment).load(target.label)
        yield notion, settings, state.databases["clients"].data_source_id


def text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


@pytest.mark.anyio
async def test_destructive_notion_call_halts_is_approved_from_the_cli_and_runs_once(
    deployed: tuple[LocalNotion, Settings, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notion, settings, clients_ds = deployed
    official = notion_client.Client(auth=notion.token, base_url=notion.base_url, retry=False)
    page = official.pages.create(
        parent={"type": "data_source_id", "data_source_id": clients_ds},
        properties={"Name": {"title": [{"text": {"content": "Soon Gone Ltd"}}]}},
    )
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "servers": {
                    "notion": {
                        "builtin": "notion",
                        "options": {"spec": str(SPEC), "target": notion.base_url},
                    }
                },
            }
        )
    )
    monkeypatch.setenv("DEVFACTORY_EMULATOR_TOKEN", notion.token)
    monkeypatch.setenv("DEVFACTORY_NOTION_RATE", "1000")  # a local server: no pacing
    proc, port, token = start(config, settings.home)
    env = {**os.environ, "DEVFACTORY_HOME": str(settings.home)}
    try:
        url = f"http://127.0.0.1:{port}/sse"
        async with Client(sse_client(url, headers={"Authorization": f"Bearer {token}"})) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"notion__trash_page", "notion__query", "notion__list_databases"} <= names
            args = {"page": page["id"]}
            halted = await client.call_tool("notion__trash_page", args)
            assert halted.is_error and halted.structured_content is not None
            approval = halted.structured_content["approval_id"]
            assert f"devfactory approvals approve {approval}" in text(halted)
            assert official.pages.retrieve(page["id"])["in_trash"] is False
            approved = subprocess.run(
                [str(BIN), "approvals", "approve", approval, "--note", "duplicate client"],
                capture_output=True, text=True, env=env, timeout=60,
            )  # fmt: skip
            assert 0 == approved.returncode, approved.stderr
            done = await client.call_tool("notion__trash_page", args)
            assert not done.is_error, text(done)
            assert official.pages.retrieve(page["id"])["in_trash"] is True
            again = await client.call_tool("notion__trash_page", args)
            assert again.is_error and again.structured_content is not None
            assert approval != again.structured_content["approval_id"]
        shown = subprocess.run(
            [str(BIN), "approvals", "show", approval, "--json"],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert '"status": "consumed"' in shown.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        official.close()
    assert "Traceback" not in out
    audit = (settings.home / "logs" / "audit.jsonl").read_text()
    assert audit.count('"outcome":"halted"') == 2 and audit.count('"outcome":"ok"') >= 1
    assert notion.token not in audit and token not in audit
