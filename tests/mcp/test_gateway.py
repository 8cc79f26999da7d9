"""The gateway as a real server on loopback: HTTP and raw TCP on one port, auth, the gate
with approvals, secret blocking, permissions, and one audit line per call."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from devfactory.obs import log
from tests.mcp import notes_server
from tests.mcp.gateway_helpers import Running, running_gateway
from tests.serving import app_server, serving

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def audit() -> Iterator[log.MemorySink]:
    sink = log.MemorySink()
    log.configure(logs_dir=None, sinks=[sink])
    yield sink
    log.shutdown()


@pytest.fixture
def notes() -> dict[str, str]:
    return {}


@pytest.fixture
def gw(tmp_path: Path, notes: dict[str, str]) -> Iterator[Running]:
    hosted, shared = notes_server.hosted()
    with running_gateway(tmp_path, {"version": 1}, servers={"notes": hosted}) as running:
        notes.update(shared)
        running.notes = shared  # type: ignore[attr-defined]
        yield running


def text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def rpc_lines(port: int, *messages: dict[str, Any] | bytes) -> list[dict[str, Any]]:
    """Send lines on a raw TCP connection; read one answer per request (ids given)."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
        sock.makefile("rb") as reader,
    ):
        answers = []
        for message in messages:
            line = message if isinstance(message, bytes) else json.dumps(message).encode()
            sock.sendall(line + b"\n")
            wants_answer = isinstance(message, bytes) or "id" in message
            if wants_answer:
                answers.append(json.loads(reader.readline()))
        return answers


INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


class TestHttp:
    @pytest.mark.anyio
    async def test_lists_namespaced_tools_and_calls_one(self, gw: Running) -> None:
        async with gw.client() as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"notes__read_note", "notes__write_note", "notes__delete_note"} <= names
            assert all(len(n) <= 64 for n in names)
            result = await client.call_tool("notes__read_note", {"name": "welcome"})
            assert not result.is_error and "hello" == text(result)

    def test_health_is_open_and_mcp_needs_a_token(self, gw: Running) -> None:
        base = f"http://127.0.0.1:{gw.port}"
        health = httpx.get(f"{base}/health")
        assert 200 == health.status_code and health.json()["servers"]["notes"]["up"] is True
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        refused = httpx.post(f"{base}/mcp", json=body)
        assert 401 == refused.status_code and "Bearer" in refused.headers["www-authenticate"]
        wrong = httpx.post(f"{base}/mcp", json=body, headers={"Authorization": "Bearer nope"})
        assert 401 == wrong.status_code

    def test_dns_rebinding_origin_and_body_limit(self, gw: Running) -> None:
        base = f"http://127.0.0.1:{gw.port}"
        auth = {"Authorization": f"Bearer {gw.token}", "Content-Type": "application/json"}
        rebinding = httpx.post(
            f"{base}/mcp", content=b"{}", headers={**auth, "Host": "evil.example:80"}
        )
        assert 421 == rebinding.status_code
        origin = httpx.post(
            f"{base}/mcp", content=b"{}", headers={**auth, "Origin": "https://evil.example"}
        )
        assert 403 == origin.status_code
        big = httpx.post(f"{base}/mcp", content=b" " * (4 * 1024 * 1024 + 1), headers=auth)
        assert 413 == big.status_code
        assert 200 == httpx.get(f"{base}/health").status_code  # still serving

    @pytest.mark.anyio
    async def test_whitespace_around_header_values_is_not_part_of_them(self, gw: Running) -> None:
        """RFC 9110 §5.5 (the conformance suite's sep-2243 check): the guard strips it, so
        `Mcp-Name:   notes__list_notes  ` names the tool the body names. (httptools keeps
        trailing spaces; no well-behaved client library even sends them, hence ASGI here.)"""
        from devfactory.mcp.http import Guard

        seen: dict[str, Any] = {}

        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.update(scope)

        headers = [
            (b"host", b"127.0.0.1:8811"),
            (b"authorization", f"Bearer {gw.token}  ".encode()),
            (b"mcp-name", b"  notes__list_notes  "),
            (b"mcp-method", b"tools/call\t"),
        ]
        scope = {"type": "http", "path": "/mcp", "method": "POST", "headers": headers,
                 "query_string": b"", "client": ("127.0.0.1", 1)}  # fmt: skip
        await Guard(app, gw.gateway)(scope, None, None)
        assert (b"mcp-name", b"notes__list_notes") in seen["headers"]
        assert (b"mcp-method", b"tools/call") in seen["headers"]
        assert seen["devfactory.principal"].name == "tester"

    def test_metrics_count_calls(self, gw: Running) -> None:
        rpc_lines(
            gw.port,
            INIT,
            INITIALIZED,
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "notes__list_notes", "arguments": {}},
            },
        )
        metrics = httpx.get(f"http://127.0.0.1:{gw.port}/metrics").text
        assert 'devfactory_calls_total{kind="mcp",outcome="ok"}' in metrics


class TestTcp:
    def test_raw_json_rpc_session_on_the_same_port(self, gw: Running) -> None:
        """One MCP session per connection, newline-delimited; a bad line gets -32700 and the
        session goes on."""
        init, bad, listed, called = rpc_lines(
            gw.port,
            INIT,
            INITIALIZED,
            b"{not json",
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "notes__read_note", "arguments": {"name": "welcome"}},
            },
        )
        assert "devfactory-gateway" == init["result"]["serverInfo"]["name"]
        assert -32700 == bad["error"]["code"]
        assert "notes__read_note" in {t["name"] for t in listed["result"]["tools"]}
        assert "hello" == called["result"]["content"][0]["text"]

    @pytest.mark.anyio
    async def test_socat_tunnel_works_as_a_stdio_server(self, gw: Running) -> None:
        """What a desktop client runs: `socat STDIO TCP:127.0.0.1:8811`."""
        if shutil.which("socat") is None:
            if os.environ.get("DEVFACTORY_REQUIRE_SERVICES") == "1":
                pytest.fail("socat is not installed (.ci/run installs it)")
            pytest.skip("socat is not installed (apt-get install socat)")
        params = StdioServerParameters(command="socat", args=["STDIO", f"TCP:127.0.0.1:{gw.port}"])
        async with Client(params, mode="legacy") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "notes__list_notes" in names
            result = await client.call_tool("notes__list_notes", {})
            assert "welcome" in text(result)


class TestGate:
    @pytest.mark.anyio
    async def test_destructive_call_halts_then_runs_once_after_approval(self, gw: Running) -> None:
        notes = gw.notes  # type: ignore[attr-defined]
        async with gw.client() as client:
            halted = await client.call_tool("notes__delete_note", {"name": "welcome"})
            assert halted.is_error and halted.structured_content is not None
            approval = halted.structured_content["approval_id"]
            assert approval.startswith("apr_") and f"approvals approve {approval}" in text(halted)
            assert "welcome" in notes
            again = await client.call_tool("notes__delete_note", {"name": "welcome"})
            assert again.is_error and approval == again.structured_content["approval_id"]  # type: ignore[index]
            gw.approvals.approve(approval, "alice", "ok")
            done = await client.call_tool("notes__delete_note", {"name": "welcome"})
            assert not done.is_error and "welcome" not in notes
            assert "consumed" == gw.approvals.get(approval).status
            notes["welcome"] = "back"
            once_more = await client.call_tool("notes__delete_note", {"name": "welcome"})
            assert once_more.is_error and "welcome" in notes
            assert approval != once_more.structured_content["approval_id"]  # type: ignore[index]

    @pytest.mark.anyio
    async def test_secrets_in_arguments_and_results_are_blocked(self, gw: Running) -> None:
        notes = gw.notes  # type: ignore[attr-defined]
        async with gw.client() as client:
            token = "ntn_" + "b2" * 20
            blocked = await client.call_tool("notes__write_note", {"name": "k", "text": token})
            assert blocked.is_error and "secret" in text(blocked) and "k" not in notes
            leaked = await client.call_tool("notes__leak", {})
            assert leaked.is_error and "ntn_" not in text(leaked)

    @pytest.mark.anyio
    async def test_unknown_tool_is_a_protocol_error_and_bad_arguments_readable(
        self, gw: Running
    ) -> None:
        async with gw.client() as client:
            with pytest.raises(MCPError, match="unknown tool") as caught:
                await client.call_tool("notes__nope", {})
            assert -32602 == caught.value.error.code
            missing = await client.call_tool("notes__read_note", {"name": "absent"})
            assert missing.is_error and "absent" in text(missing)


class TestAudit:
    @pytest.mark.anyio
    async def test_one_audit_line_per_call(self, tmp_path: Path, audit: log.MemorySink) -> None:
        hosted, _ = notes_server.hosted()
        with running_gateway(tmp_path, {"version": 1}, servers={"notes": hosted}) as gw:
            async with gw.client() as client:
                for i in range(5):
                    await client.call_tool("notes__write_note", {"name": f"n{i}", "text": "x"})
                await client.call_tool("notes__delete_note", {"name": "n0"})
        calls = [r for r in audit.records("audit") if r["event"] == "mcp.call"]
        assert 6 == len(calls)
        assert ["ok"] * 5 + ["halted"] == [c["outcome"] for c in calls]
        assert all(c["client"] == "tester" and c["operation_id"] for c in calls)
        assert "text" not in json.dumps(calls[0]["argument_keys"]) or calls[0]["argument_keys"] == [
            "name",
            "text",
        ]
        assert all("x" not in str(c.get("arguments", "")) for c in calls)

    @pytest.mark.anyio
    async def test_a_repeated_call_id_is_one_logical_call(
        self, tmp_path: Path, audit: log.MemorySink
    ) -> None:
        hosted, notes = notes_server.hosted()
        with running_gateway(tmp_path, {"version": 1}, servers={"notes": hosted}) as gw:
            async with gw.client() as client:
                meta = {"devfactory/call_id": "c-1"}
                first = await client.call_tool(
                    "notes__write_note", {"name": "a", "text": "1"}, meta=meta
                )
                notes["a"] = "changed meanwhile"
                second = await client.call_tool(
                    "notes__write_note", {"name": "a", "text": "1"}, meta=meta
                )
        assert text(first) == text(second) and "changed meanwhile" == notes["a"]
        assert 1 == sum(1 for r in audit.records("audit") if r["event"] == "mcp.call")


class TestAccess:
    @pytest.mark.anyio
    async def test_viewer_sees_and_runs_read_only_tools_only(self, tmp_path: Path) -> None:
        hosted, notes = notes_server.hosted()
        config = {
            "clients": [{"name": "auditor", "token_env": "GW_TEST_TOKEN", "role": "viewer"}],
        }
        with running_gateway(tmp_path, config, servers={"notes": hosted}) as gw:
            async with gw.client() as client:
                names = {t.name for t in (await client.list_tools()).tools}
                assert "notes__read_note" in names and "notes__write_note" not in names
                refused = await client.call_tool("notes__write_note", {"name": "v", "text": "x"})
                assert refused.is_error and "viewer" in text(refused) and "v" not in notes

    @pytest.mark.anyio
    async def test_allow_and_deny_lists(self, tmp_path: Path) -> None:
        config = {
            "servers": {
                "stdio-notes": {
                    "command": sys.executable,
                    "args": ["-m", "tests.mcp.notes_server"],
                    "env": {"PYTHONPATH": str(ROOT)},
                    "deny": ["delete_*", "leak"],
                }
            }
        }
        with running_gateway(tmp_path, config) as gw:
            async with gw.client() as client:
                names = {t.name for t in (await client.list_tools()).tools}
                assert "stdio-notes__read_note" in names
                assert not {"stdio-notes__delete_note", "stdio-notes__leak"} & names
                result = await client.call_tool("stdio-notes__read_note", {"name": "welcome"})
                assert "hello" == text(result)


class TestEvents:
    @pytest.mark.anyio
    async def test_calls_and_halts_are_published(self, tmp_path: Path) -> None:
        """Each call publishes operation started/finished; a halt publishes gate_halted."""
        events: list[Any] = []

        async def publish(event: Any) -> Any:
            events.append(event)
            return event

        hosted, _ = notes_server.hosted()
        with running_gateway(
            tmp_path, {"version": 1}, servers={"notes": hosted}, publish=publish
        ) as gw:
            async with gw.client() as client:
                await client.call_tool("notes__list_notes", {})
                halted = await client.call_tool("notes__delete_note", {"name": "welcome"})
        kinds = [e.type for e in events]
        assert kinds.count("operation_started") == 2 and kinds.count("operation_finished") == 2
        halts = [e for e in events if e.type == "gate_halted"]
        assert [halted.structured_content["approval_id"]] == [h.approval_id for h in halts]  # type: ignore[index]
        assert ["ok", "halted"] == [e.outcome for e in events if e.type == "operation_finished"]


class TestUpstreams:
    @pytest.mark.anyio
    async def test_an_http_server_behind_the_gateway(self, tmp_path: Path) -> None:
        """A Streamable HTTP server (its own uvicorn on loopback) declared by `url`."""
        server, _ = notes_server.build()
        with serving(app_server(server.streamable_http_app()), what="the notes server") as port:
            url = f"http://127.0.0.1:{port}/mcp"
            with running_gateway(tmp_path, {"servers": {"remote": {"url": url}}}) as gw:
                async with gw.client() as client:
                    result = await client.call_tool("remote__read_note", {"name": "welcome"})
                    assert "hello" == text(result)
                    assert gw.gateway.health()["servers"]["remote"]["up"] is True

    @pytest.mark.anyio
    async def test_a_plugin_from_an_entry_point(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An installed distribution's `devfactory.mcp_servers` entry point is a server."""
        dist = tmp_path / "site" / "devfactory_notes_plugin-1.0.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: devfactory-notes-plugin\nVersion: 1.0\n"
        )
        (dist / "entry_points.txt").write_text(
            "[devfactory.mcp_servers]\nnotes = tests.mcp.notes_server:plugin\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path / "site"))
        config = {
            "servers": {"extra": {"plugin": "notes", "options": {"seed": {"memo": "from options"}}}}
        }
        with running_gateway(tmp_path, config) as gw:
            async with gw.client() as client:
                result = await client.call_tool("extra__read_note", {"name": "memo"})
                assert "from options" == text(result)

    def test_a_server_that_cannot_start_leaves_the_others_serving(self, tmp_path: Path) -> None:
        config = {
            "servers": {
                "ghost": {"plugin": "not-installed"},
                "files": {
                    "builtin": "filesystem",
                    "options": {"roots": [str(tmp_path / "absent")]},
                },
            }
        }
        hosted, _ = notes_server.hosted()
        with running_gateway(tmp_path, config, servers={"notes": hosted}) as gw:
            health = gw.gateway.health()["servers"]
        assert health["notes"]["up"] is True
        assert health["files"]["up"] is False and health["files"]["error"]
        assert health["ghost"]["up"] is False and "not-installed" in health["ghost"]["error"]


class TestElicitation:
    @pytest.mark.anyio
    @pytest.mark.parametrize("approve", [True, False])
    async def test_a_halted_call_is_reviewed_in_the_client(
        self, gw: Running, approve: bool
    ) -> None:
        """A client with form elicitation (here over SSE, which has a back channel) is asked;
        yes approves and runs the call once, no denies it."""
        from mcp.client.sse import sse_client

        asked: list[str] = []

        async def review(context: Any, params: Any) -> Any:
            from mcp.types import ElicitResult

            asked.append(params.message)
            return ElicitResult(action="accept", content={"approve": approve, "note": "checked"})

        url = f"http://127.0.0.1:{gw.port}/sse"
        headers = {"Authorization": f"Bearer {gw.token}"}
        async with Client(
            sse_client(url, headers=headers), mode="legacy", elicitation_callback=review
        ) as client:
            result = await client.call_tool("notes__delete_note", {"name": "welcome"})
        assert 1 == len(asked) and "notes__delete_note" in asked[0]
        notes = gw.notes  # type: ignore[attr-defined]
        records = gw.approvals.list()
        assert 1 == len(records) and "tester via elicitation" == records[0].reviewer
        if approve:
            assert not result.is_error and "welcome" not in notes
            assert "consumed" == records[0].status
        else:
            assert result.is_error and "denied" in text(result) and "welcome" in notes
            assert "denied" == records[0].status
