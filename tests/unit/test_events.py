"""Typed events and the in-process bus: fan-out, filters, drop-oldest, threads, replay."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from devfactory.obs.events import (
    EVENT_TYPES,
    DeployProgress,
    Event,
    EventBusError,
    GateApproved,
    GateDenied,
    GateHalted,
    InvalidEventError,
    LogLine,
    MemoryBus,
    OperationFinished,
    OperationStarted,
    RedisBus,
    Subscription,
    open_bus,
    parse_event,
)
from devfactory.obs.metrics import REGISTRY

WAIT = 2.0  # seconds a test waits for an event that should already be there


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


async def take(sub: Subscription) -> Event:
    return await asyncio.wait_for(anext(sub), WAIT)


async def drain(sub: Subscription) -> list[Event]:
    """Everything queued right now (the bus is in-process, so nothing is in flight)."""
    return [await take(sub) for _ in range(len(sub))]


def dropped_metric(bus: str) -> float:
    value = REGISTRY.get_sample_value("devfactory_events_dropped_total", {"bus": bus})
    assert value is not None
    return value


def log(n: int) -> LogLine:
    return LogLine(stream="app", level="info", component="test", event=f"e{n}", line=f"{n}")


EXAMPLES: list[Event] = [
    OperationStarted(
        operation_id="op-1", parent_operation_id="op-0", name="apply", component="deploy"
    ),
    OperationFinished(operation_id="op-1", name="apply", outcome="succeeded", duration_s=1.25),
    GateHalted(
        approval_id="ap-1",
        tool="notion.delete",
        server="notion",
        score=0.8,
        reasons=("destructive",),
    ),
    GateApproved(approval_id="ap-1", reviewer="ana", note="looks fine"),
    GateDenied(approval_id="ap-2", reviewer="ana", note=None),
    DeployProgress(environment="dev", step_index=2, total=7, action="create", target="Tasks"),
    LogLine(
        stream="gate",
        level="warning",
        component="gateway",
        event="halted",
        operation_id="op-1",
        line='{"event": "halted"}',
    ),
]


# ----------------------------------------------------------------------------------- events


def test_examples_cover_every_event_type() -> None:
    """The round-trip examples include one event of each registered type."""
    assert sorted(EVENT_TYPES) == sorted(e.type for e in EXAMPLES)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.type)
def test_parse_event_round_trips_every_type(event: Event) -> None:
    """to_json then parse_event gives an equal event of the same class, from bytes or str."""
    stamped = event.model_copy(update={"id": 42})
    data = stamped.to_json()
    assert stamped == parse_event(data)
    assert type(stamped) is type(parse_event(data.decode()))
    assert orjson.loads(data)["type"] == event.type


def test_at_is_utc_and_written_with_z() -> None:
    """A timestamp in another zone is stored in UTC and serialised as ISO 8601 with Z."""
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    event = GateApproved(approval_id="a", reviewer="r", at=at)
    assert datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC) == event.at
    assert "2026-01-02T01:04:05Z" == orjson.loads(event.to_json())["at"]


def test_events_are_frozen() -> None:
    """An event cannot be changed after it is made."""
    event = GateApproved(approval_id="a", reviewer="r")
    with pytest.raises(ValueError, match="frozen"):
        event.reviewer = "someone else"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "must be a JSON object, not list"),
        (b'{"id": 1}', "unknown event type None"),
        (b'{"type": "gate_exploded", "id": 1}', "unknown event type 'gate_exploded'"),
        (b'{"type": "gate_approved", "approval_id": "a"}', "invalid gate_approved event: reviewer"),
        (
            b'{"type": "deploy_progress", "environment": "dev", "step_index": -1, "total": 1,'
            b' "action": "a", "target": "t"}',
            "step_index",
        ),
        (b'{"type": "gate_denied", "approval_id": "a", "reviewer": "r", "x": 1}', "x: Extra"),
        (
            b'{"type": "gate_denied", "approval_id": "a", "reviewer": "r", "at": "2026-01-01T00:00:00"}',
            "at: ",
        ),
    ],
)
def test_parse_event_rejects_malformed_and_unknown(data: bytes, message: str) -> None:
    """Malformed JSON, unknown types, missing, extra and naive fields are InvalidEventError."""
    with pytest.raises(InvalidEventError, match=message) as caught:
        parse_event(data)
    assert isinstance(caught.value, ValueError)


def test_unknown_type_error_lists_the_known_types() -> None:
    """The error for an unknown type names the types that exist."""
    with pytest.raises(InvalidEventError, match="known: deploy_progress, gate_approved"):
        parse_event('{"type": "nope"}')


# ------------------------------------------------------------------------------------- bus


def test_publish_stamps_increasing_ids_and_fans_out() -> None:
    """Every subscriber gets every event, in order, with ids 1, 2, 3."""

    async def test() -> None:
        bus = MemoryBus()
        first, second = bus.subscribe(), bus.subscribe()
        published = [await bus.publish(log(n)) for n in range(3)]
        assert [1, 2, 3] == [e.id for e in published]
        assert published == await drain(first)
        assert published == await drain(second)
        assert 3 == bus.last_id
        await bus.close()

    run(test)


def test_a_waiting_subscriber_wakes_on_publish() -> None:
    """A subscriber blocked on an empty queue gets the event published later."""

    async def test() -> None:
        bus = MemoryBus()
        sub = bus.subscribe()
        waiting = asyncio.create_task(take(sub))
        await asyncio.sleep(0)  # let it block on the empty queue
        assert not waiting.done()
        event = await bus.publish(log(1))
        assert event == await waiting

    run(test)


def test_type_filter() -> None:
    """A subscriber for some types sees only those; unknown type names are refused."""

    async def test() -> None:
        bus = MemoryBus()
        gates = bus.subscribe({"gate_halted", "gate_denied"})
        for event in EXAMPLES:
            await bus.publish(event)
        assert ["gate_halted", "gate_denied"] == [e.type for e in await drain(gates)]
        with pytest.raises(ValueError, match="gate_exploded"):
            bus.subscribe({"gate_exploded"})

    run(test)


def test_full_queue_drops_oldest_and_counts_it() -> None:
    """A slow subscriber keeps the newest events; drops go on the subscription and metric."""

    async def test() -> None:
        bus = MemoryBus()
        before = dropped_metric("memory")
        slow, fast = bus.subscribe(maxsize=3), bus.subscribe()
        for n in range(10):
            await bus.publish(log(n))
        assert 7 == slow.dropped
        assert [8, 9, 10] == [e.id for e in await drain(slow)]
        assert 0 == fast.dropped
        assert 10 == len(await drain(fast))
        assert 7 == dropped_metric("memory") - before

    run(test)


def test_publish_from_threads() -> None:
    """Events published from worker threads reach a subscriber waiting in the loop."""

    async def test() -> None:
        bus = MemoryBus()
        sub = bus.subscribe()
        workers = [
            threading.Thread(
                target=lambda k=k: [bus.publish_threadsafe(log(k * 100 + n)) for n in range(50)]
            )
            for k in range(4)
        ]
        for worker in workers:
            worker.start()
        received = [await take(sub) for _ in range(200)]
        for worker in workers:
            worker.join()
        assert list(range(1, 201)) == [e.id for e in received]
        assert {f"{k * 100 + n}" for k in range(4) for n in range(50)} == {
            e.line for e in received if isinstance(e, LogLine)
        }

    run(test)


def test_a_thread_wakes_a_blocked_subscriber() -> None:
    """publish_threadsafe wakes a subscriber already waiting on an empty queue."""

    async def test() -> None:
        bus = MemoryBus()
        sub = bus.subscribe()
        waiting = asyncio.create_task(take(sub))
        await asyncio.sleep(0)
        assert not waiting.done()
        worker = threading.Thread(target=bus.publish_threadsafe, args=(log(7),))
        worker.start()
        event = await waiting
        worker.join()
        assert ("7", 1) == (event.line if isinstance(event, LogLine) else None, event.id)

    run(test)


def test_replay_after_id() -> None:
    """subscribe(after_id=n) first gets the kept events newer than n, then live ones."""

    async def test() -> None:
        bus = MemoryBus(history=5)
        for n in range(8):
            await bus.publish(log(n))
        resumed = bus.subscribe(after_id=5)
        assert not resumed.gap
        await bus.publish(log(8))
        assert [6, 7, 8, 9] == [e.id for e in await drain(resumed)]
        too_old = bus.subscribe(after_id=2)
        assert too_old.gap
        assert [5, 6, 7, 8, 9] == [e.id for e in await drain(too_old)]
        filtered = bus.subscribe({"gate_halted"}, after_id=0)
        assert 0 == len(filtered)
        assert not bus.subscribe(after_id=9).gap

    run(test)


def test_closing_a_subscription_stops_iteration() -> None:
    """After close(), iteration ends (even for a waiting reader) and new events are not queued."""

    async def test() -> None:
        bus = MemoryBus()
        sub = bus.subscribe()
        await bus.publish(log(1))
        received = []

        async def read() -> None:
            async for event in sub:
                received.append(event)

        reader = asyncio.create_task(read())
        await asyncio.sleep(0)
        sub.close()
        await asyncio.wait_for(reader, WAIT)
        assert [1] == [e.id for e in received]
        await bus.publish(log(2))
        assert sub.closed and 0 == len(sub)
        with pytest.raises(StopAsyncIteration):
            await anext(sub)

    run(test)


def test_context_manager_and_bus_close() -> None:
    """Leaving ``async with`` closes the subscription; closing the bus closes the rest."""

    async def test() -> None:
        bus = MemoryBus()
        async with bus.subscribe() as inner:
            await bus.publish(log(1))
            assert 1 == (await take(inner)).id
        assert inner.closed
        outer = bus.subscribe()
        await bus.close()
        assert outer.closed
        with pytest.raises(EventBusError, match="closed"):
            await bus.publish(log(2))
        bus.publish_threadsafe(log(3))  # ignored, not raised: threads may outlive the bus

    run(test)


def test_open_bus_chooses_by_url() -> None:
    """No URL gives a MemoryBus; a Redis URL (plain or secret) gives a RedisBus."""
    from pydantic import SecretStr

    async def test() -> None:
        assert isinstance(open_bus(None), MemoryBus)
        for url in ("redis://127.0.0.1:6379/0", SecretStr("redis://127.0.0.1:6379/0")):
            bus = open_bus(url, namespace="unit")
            assert isinstance(bus, RedisBus)
            assert "unit:events" == bus.channel
            await bus.close()

    run(test)
