"""Live events for the dashboard: SSE at ``/api/v1/events``, WebSocket at ``/api/v1/ws``.

Both stream what the event bus (:mod:`devfactory.obs.events`) carries, one JSON event each,
from a subscription of their own: a bounded queue that drops its oldest event when the
client is slow, so a stalled tab never holds up the publishers.

SSE is the main path (plain HTTP, reconnects by itself). Each event goes out with
``id:`` = the bus id and ``event:`` = its type; a client that reconnects sends
``Last-Event-ID`` (or ``?after=ID``) and gets only the later events, replayed from the
bus's history. When the history no longer reaches back that far, a ``gap`` event comes
first: reload from the logs. A client too slow to keep up loses its oldest queued events, and
gets a ``gap`` event (``after_id``, ``dropped``) before the next one it does receive. FastAPI sends a keep-alive comment (``: ping``) after 15 s of
silence. The WebSocket sends the same JSON (``?after=ID`` to resume) for clients that want
one; it reads nothing but the close.

``max_events`` ends a stream after that many events: in-process test clients buffer a
whole response, so an endless stream would hang them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from devfactory.obs.events import Event, EventBus, Subscription
from devfactory.web.auth import Caller, audit, connection_principal
from devfactory.web.context import context_of
from devfactory.web.errors import ApiError

__all__ = ["EventType", "event_stream", "router"]

router = APIRouter(prefix="/api/v1", tags=["events"])

EventType = Literal[
    "operation_started",
    "operation_finished",
    "gate_halted",
    "gate_approved",
    "gate_denied",
    "deploy_progress",
    "log_line",
]
QUEUE = 1000  # events a slow client may fall behind before the oldest are dropped


async def event_stream(
    bus: EventBus,
    *,
    after_id: int | None = None,
    types: list[str] | None = None,
    max_events: int | None = None,
) -> AsyncIterator[ServerSentEvent]:
    """The bus as SSE items: a ``gap`` notice if the replay fell short, then the events."""
    sent = 0
    async with bus.subscribe(types, maxsize=QUEUE, after_id=after_id) as sub:
        if sub.gap:
            yield ServerSentEvent(event="gap", data={"after_id": after_id})
        dropped = 0
        last_id = after_id
        async for event in sub:
            if sub.dropped != dropped:
                # This client fell behind and its oldest events were dropped: say so before
                # the next one, so it reloads from the logs instead of missing them unseen.
                yield ServerSentEvent(
                    event="gap", data={"after_id": last_id, "dropped": sub.dropped - dropped}
                )
                dropped = sub.dropped
            yield ServerSentEvent(
                raw_data=event.to_json().decode(), event=event.type, id=str(event.id)
            )
            last_id = event.id
            sent += 1
            if max_events is not None and sent >= max_events:
                return


@router.get("/events", response_class=EventSourceResponse)
async def events(
    request: Request,
    caller: Caller,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
    after: Annotated[int | None, Query(ge=0, description="Resume after this id.")] = None,
    types: Annotated[list[EventType] | None, Query(description="Only these types.")] = None,
    max_events: Annotated[int | None, Query(ge=1, description="End after N (tests).")] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Live events as Server-Sent Events; resume with ``Last-Event-ID`` or ``?after=``."""
    bus = context_of(request).bus
    start = last_event_id if last_event_id is not None else after
    chosen: list[str] | None = list(types) if types else None
    async for item in event_stream(bus, after_id=start, types=chosen, max_events=max_events):
        yield item


def _same_origin(websocket: WebSocket) -> bool:
    """Whether a browser's ``Origin`` is this server (no Origin: not a browser)."""
    origin = websocket.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == websocket.headers.get("host")


async def _next(sub: Subscription) -> Event | None:
    try:
        return await anext(sub)
    except StopAsyncIteration:
        return None


async def _closed(websocket: WebSocket) -> None:
    """Return when the client closes (what it sends is ignored)."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


@router.websocket("/ws")
async def ws(
    websocket: WebSocket,
    after: Annotated[int | None, Query(ge=0)] = None,
    types: Annotated[list[EventType] | None, Query()] = None,
    max_events: Annotated[int | None, Query(ge=1)] = None,
) -> None:
    """Live events over a WebSocket, one JSON text message each (same auth as the API)."""
    try:
        principal, via = await run_in_threadpool(connection_principal, websocket, unsafe=False)
    except ApiError as exc:
        await websocket.close(code=1008, reason=exc.message[:120])
        return
    if via == "session" and not _same_origin(websocket):
        audit(websocket, "denied", principal=principal, via=via, reason="cross-origin WebSocket")
        await websocket.close(code=1008, reason="cross-origin WebSocket")
        return
    audit(websocket, "ok", principal=principal, via=via)
    await websocket.accept()
    bus = context_of(websocket).bus
    closed = asyncio.create_task(_closed(websocket))
    sent = 0
    try:
        async with bus.subscribe(
            list(types) if types else None, maxsize=QUEUE, after_id=after
        ) as sub:
            while max_events is None or sent < max_events:
                pending = asyncio.create_task(_next(sub))
                done, _ = await asyncio.wait({pending, closed}, return_when=asyncio.FIRST_COMPLETED)
                if pending not in done:
                    pending.cancel()
                    return
                event = pending.result()
                if event is None:
                    break
                await websocket.send_text(event.to_json().decode())
                sent += 1
        await websocket.close()
    finally:
        closed.cancel()
