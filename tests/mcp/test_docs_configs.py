"""Every client configuration in docs/mcp.md works: each JSON block with ``mcpServers`` is
started as a client would start it (socat, a stdio command, an HTTP URL with headers)
against a gateway on a free port, and lists its tools."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.mcp import notes_server
from tests.mcp.gateway_helpers import Running, running_gateway

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "mcp.md"
BIN = Path(sys.executable).parent


def documented_servers() -> list[tuple[str, dict[str, Any]]]:
    """(name, entry) of every server in the JSON blocks of docs/mcp.md."""
    found = []
    for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), flags=re.S):
        data = json.loads(block)
        if "mcpServers" in data:
            found.extend(data["mcpServers"].items())
    return found


def test_the_doc_has_the_three_kinds() -> None:
    kinds = {("http" if e.get("type") == "http" else e["command"]) for _, e in documented_servers()}
    assert {"socat", "devfactory", "http"} == kinds


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    hosted, _ = notes_server.hosted()
    with running_gateway(
        tmp_path_factory.mktemp("gw"), {"version": 1}, servers={"notes": hosted}
    ) as running:
        yield running


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "entry"), documented_servers(), ids=lambda v: str(v)[:20])
async def test_documented_config_starts_and_lists_tools(
    name: str, entry: dict[str, Any], gateway: Running, tmp_path: Path
) -> None:
    port = str(gateway.port)
    if entry.get("type") == "http":
        url = entry["url"].replace("8811", port)
        headers = {
            k: v.replace("${DEVFACTORY_GATEWAY_TOKEN}", gateway.token or "")
            for k, v in entry.get("headers", {}).items()
        }
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            names = {t.name for t in (await client.list_tools()).tools}
        assert "notes__read_note" in names
        return
    command = entry["command"]
    if command == "socat" and shutil.which("socat") is None:
        if os.environ.get("DEVFACTORY_REQUIRE_SERVICES") == "1":
            pytest.fail("socat is not installed (.ci/run installs it)")
        pytest.skip("socat is not installed (apt-get install socat)")
    if command == "devfactory":
        command = str(BIN / "devfactory")
    args = [
        a.replace("8811", port).replace("/home/me/Consulting", str(tmp_path)) for a in entry["args"]
    ]
    (tmp_path / "hello.txt").write_text("hi")
    async with Client(StdioServerParameters(command=command, args=args), mode="legacy") as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert (
        ("notes__read_note" in names)
        if entry["command"] == "socat"
        else ("read_text_file" in names)
    )
