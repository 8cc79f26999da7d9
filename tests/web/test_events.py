"""Live events against a real server: SSE (resumable) and the WebSocket."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from devfactory.obs.events import GateHalted
from tests.web.conftest import Dashboard

pytestmark = pytest.mark.anyio


def halted(n: int) -> GateHalted:
    return GateHalted(approval_id=f"apr_{n:06d}", tool="t", server="s", score=0.9)


async def sse(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """The events of an SSE response as field dicts (comments skipped)."""
    fields: dict[str, str] = {}
    async for text in response.aiter_lines():
        if not text:
            if fields:
                yield fields
            fields = {}
        elif not text.startswith(":"):
            name, _, value = text.partition(":")
            fields[name] = value.removeprefix(" ")


def client(dashboard: Dashboard, role: str = "viewer", **headers: str) -> httpx.AsyncClient:
    sent = {"Authorization": f"Bearer {dashboard.keys[role]}", **headers}
    return httpx.AsyncClient(base_url=dashboard.url, headers=sent, timeout=10)


async def test_sse_resumes_after_last_event_id(dashboard: Dashboard) -> None:
    """With Last-Event-ID: 1 only the later events come, with their ids and types."""
    for n in range(3):
        dashboard.bus.publish_threadsafe(halted(n))
    async with (
        client(dashboard, **{"Last-Event-ID": "1"}) as http,
        http.stream("GET", "/api/v1/events", params={"max_events": 2}) as answer,
    ):
        assert "text/event-stream" in answer.headers["content-type"]
        got = [event async for event in sse(answer)]
    assert [("2", "gate_halted"), ("3", "gate_halted")] == [(e["id"], e["event"]) for e in got]
    assert "apr_000001" == json.loads(got[0]["data"])["approval_id"]


async def test_sse_endless_stream_delivers_live_events(dashboard: Dashboard) -> None:
    """An open stream (no max_events) receives an event published after connecting."""
    async with (
        client(dashboard) as http,
        http.stream("GET", "/api/v1/events", params={"types": "gate_halted"}) as answer,
    ):
        assert 200 == answer.status_code
        dashboard.bus.publish_threadsafe(halted(7))
        with anyio.fail_after(5):
            event = await anext(sse(answer))
    assert "apr_000007" == json.loads(event["data"])["approval_id"]


async def test_sse_needs_a_key(dashboard: Dashboard) -> None:
    """The stream is authenticated like the rest of the API."""
    async with httpx.AsyncClient(base_url=dashboard.url) as http:
        assert 401 == (await http.get("/api/v1/events")).status_code


async def test_websocket_receives_events(dashboard: Dashboard) -> None:
    """The WebSocket sends the bus's events as JSON, resuming after ?after=ID."""
    dashboard.bus.publish_threadsafe(halted(1))
    url = f"ws://127.0.0.1:{dashboard.port}/api/v1/ws?after=1"
    headers = {"Authorization": f"Bearer {dashboard.keys['viewer']}"}
    async with connect(url, additional_headers=headers) as ws:
        dashboard.bus.publish_threadsafe(halted(2))
        with anyio.fail_after(5):
            data: dict[str, Any] = json.loads(await ws.recv())
    assert (2, "gate_halted", "apr_000002") == (data["id"], data["type"], data["approval_id"])


async def test_websocket_refuses_without_a_key(dashboard: Dashboard) -> None:
    """A WebSocket without a key is refused at the handshake (403)."""
    with pytest.raises(InvalidStatus) as caught:
        async with connect(f"ws://127.0.0.1:{dashboard.port}/api/v1/ws"):
            pass
    assert 403 == caught.value.response.status_code


async def test_sse_sends_keep_alive_comments(
    dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quiet stream gets ``: ping`` comments (every 15 s; shortened here)."""
    import fastapi.routing

    monkeypatch.setattr(fastapi.routing, "_PING_INTERVAL", 0.1)
    async with client(dashboard) as http, http.stream("GET", "/api/v1/events") as answer:
        with anyio.fail_after(5):
            async for text in answer.aiter_lines():
                if text.startswith(":"):
                    break
    assert ": ping" == text


async def test_approving_publishes_an_event(dashboard: Dashboard) -> None:
    """An approval through the API reaches live subscribers as gate_approved."""
    from devfactory.gate.approvals import Approvals
    from devfactory.gate.decide import decide
    from devfactory.gate.policy import Policy, ToolCall

    call = ToolCall("docker", "docker__remove", {"container": "x"})
    ident = Approvals(dashboard.store).create(call, decide(call, Policy()), ttl=600).id
    async with (
        client(dashboard, "operator") as http,
        http.stream("GET", "/api/v1/events", params={"types": "gate_approved"}) as answer,
    ):
        assert 200 == (await http.post(f"/api/v1/approvals/{ident}/approve")).status_code
        with anyio.fail_after(5):
            event = await anext(sse(answer))
    assert (ident, "operator-1") == (
        json.loads(event["data"])["approval_id"],
        json.loads(event["data"])["reviewer"],
    )


async def test_a_client_that_fell_behind_gets_a_gap_before_the_next_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Events dropped from a slow client's queue are announced: a ``gap`` with how many and
    the last id it did get, then the newest events."""
    from devfactory.obs.events import MemoryBus
    from devfactory.web import events

    monkeypatch.setattr(events, "QUEUE", 3)
    bus = MemoryBus()
    first = await bus.publish(halted(0))
    stream = events.event_stream(bus, after_id=first.id - 1)  # replays the first
    with anyio.fail_after(5):
        got = await anext(stream)
    assert got.id == str(first.id)
    for n in range(1, 9):
        await bus.publish(halted(n))  # 8 more into a queue of 3: 5 dropped
    with anyio.fail_after(5):
        gap = await anext(stream)
        after = [await anext(stream) for _ in range(3)]
    await stream.aclose()
    assert gap.event == "gap" and gap.data["dropped"] == 5
    assert [int(e.id) for e in after] == [first.id + 6, first.id + 7, first.id + 8]


def test_a_client_gone_mid_send_ends_its_stream_quietly(
    dashboard: Dashboard, caplog: pytest.LogCaptureFixture
) -> None:
    """Clients that stop reading, then vanish (reset) while the server waits to send to
    them, cost no traceback: their streams end and the server keeps serving."""
    import socket
    import struct
    import time

    from devfactory.obs.events import DeployProgress

    stalled = []
    for _ in range(5):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1460)
        sock.connect(("127.0.0.1", dashboard.port))
        key = dashboard.keys["viewer"]
        sock.sendall(
            f"GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
        )
        stalled.append(sock)
    time.sleep(0.3)
    for n in range(3000):
        dashboard.bus.publish_threadsafe(
            DeployProgress(
                environment="dev", step_index=n, total=3000, action="x" * 500, target="t"
            )
        )
    time.sleep(2.0)
    for sock in stalled:  # a reset, as when a laptop's network drops
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    time.sleep(1.0)
    with httpx.Client(base_url=dashboard.url, timeout=10) as http:
        assert http.get("/health").status_code == 200
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failures, [(r.name, r.getMessage(), r.exc_info) for r in failures][:3]
