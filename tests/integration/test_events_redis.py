"""The Redis event bus against a real Redis: two buses stand for two processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import redis

from devfactory.obs.events import (
    Event,
    EventBusError,
    LogLine,
    OperationStarted,
    RedisBus,
    Subscription,
)
from devfactory.obs.metrics import REGISTRY

WAIT = 5.0  # seconds a test waits for an event that Redis should deliver at once


@pytest.fixture
def namespace(redis_url: str, redis_namespace: str) -> Iterator[str]:
    """The test's namespace; its keys are deleted afterwards."""
    yield redis_namespace
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"{redis_namespace}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


async def take(sub: Subscription) -> Event:
    return await asyncio.wait_for(anext(sub), WAIT)


def log(n: int) -> LogLine:
    return LogLine(stream="app", level="info", component="test", event=f"e{n}", line=f"{n}")


def test_event_published_on_one_bus_reaches_the_other(redis_url: str, namespace: str) -> None:
    """A subscriber on bus B receives, in order, what bus A publishes, typed and stamped."""

    async def test() -> None:
        a, b = RedisBus(redis_url, namespace=namespace), RedisBus(redis_url, namespace=namespace)
        try:
            async with b.subscribe() as sub:
                started = await a.publish(
                    OperationStarted(operation_id="op-1", name="apply", component="deploy")
                )
                line = await a.publish(log(1))
                assert started == await take(sub)
                assert line == await take(sub)
        finally:
            await a.close()
            await b.close()

    run(test)


def test_ids_increase_across_buses(redis_url: str, namespace: str) -> None:
    """Ids come from one Redis counter, so publishes on both buses share one sequence."""

    async def test() -> None:
        a, b = RedisBus(redis_url, namespace=namespace), RedisBus(redis_url, namespace=namespace)
        try:
            async with a.subscribe() as on_a, b.subscribe() as on_b:
                ids = [(await (a if n % 2 else b).publish(log(n))).id for n in range(6)]
                assert [1, 2, 3, 4, 5, 6] == ids
                assert ids == [(await take(on_a)).id for _ in ids]
                assert ids == [(await take(on_b)).id for _ in ids]
        finally:
            await a.close()
            await b.close()

    run(test)


def test_slow_subscriber_drops_oldest(redis_url: str, namespace: str) -> None:
    """A full queue keeps the newest events and counts drops under bus="redis"."""

    async def test() -> None:
        publisher = RedisBus(redis_url, namespace=namespace)
        reader = RedisBus(redis_url, namespace=namespace)
        before = REGISTRY.get_sample_value("devfactory_events_dropped_total", {"bus": "redis"})
        assert before is not None
        try:
            async with reader.subscribe(maxsize=2) as slow, reader.subscribe() as fast:
                for n in range(5):
                    await publisher.publish(log(n))
                # One reader task feeds both queues in the same step: once the fast one has
                # the fifth event, the slow one has seen all five too.
                assert 5 == [(await take(fast)).id for _ in range(5)][-1]
                assert 3 == slow.dropped
                assert [4, 5] == [(await take(slow)).id for _ in range(2)]
                after = REGISTRY.get_sample_value(
                    "devfactory_events_dropped_total", {"bus": "redis"}
                )
                assert 3 == after - before  # type: ignore[operator]
        finally:
            await publisher.close()
            await reader.close()

    run(test)


def test_replay_after_id_from_another_process(redis_url: str, namespace: str) -> None:
    """A new bus replays the shared history after an id, then continues live, no duplicates."""

    async def test() -> None:
        a = RedisBus(redis_url, namespace=namespace, history=3)
        b = RedisBus(redis_url, namespace=namespace)
        try:
            for n in range(5):
                await a.publish(log(n))
            async with b.subscribe(after_id=3) as resumed, b.subscribe(after_id=0) as old:
                assert not resumed.gap and old.gap
                await a.publish(log(5))
                assert [4, 5, 6] == [(await take(resumed)).id for _ in range(3)]
                assert [3, 4, 5, 6] == [(await take(old)).id for _ in range(4)]
                assert 0 == len(resumed) + len(old)
        finally:
            await a.close()
            await b.close()

    run(test)


def test_thread_publish_keeps_order(redis_url: str, namespace: str) -> None:
    """publish_threadsafe from a worker thread publishes in call order."""

    async def test() -> None:
        bus = RedisBus(redis_url, namespace=namespace)
        try:
            async with bus.subscribe() as sub:
                await asyncio.to_thread(lambda: [bus.publish_threadsafe(log(n)) for n in range(20)])
                received = [await take(sub) for _ in range(20)]
                assert [str(n) for n in range(20)] == [
                    e.line for e in received if isinstance(e, LogLine)
                ]
        finally:
            await bus.close()

    run(test)


def test_reader_reconnects_and_fills_the_gap(redis_url: str, namespace: str) -> None:
    """When Redis drops the subscriber's connection, it reconnects and gets what it missed."""

    async def test() -> None:
        publisher = RedisBus(redis_url, namespace=namespace)
        reader = RedisBus(
            redis_url, namespace=namespace, reconnect_delay=0.01, client_name=namespace
        )
        admin = redis.Redis.from_url(redis_url)
        try:
            async with reader.subscribe() as sub:
                await publisher.publish(log(0))
                assert 1 == (await take(sub)).id
                killed = [
                    c["id"] for c in admin.client_list(_type="pubsub") if c.get("name") == namespace
                ]
                assert 1 == len(killed)
                admin.client_kill_filter(_id=killed[0])
                await publisher.publish(log(1))
                await publisher.publish(log(2))
                assert [2, 3] == [(await take(sub)).id for _ in range(2)]
        finally:
            admin.close()
            await publisher.close()
            await reader.close()

    run(test)


def test_publish_without_redis_is_a_clear_error() -> None:
    """An unreachable Redis makes publish raise EventBusError, not a raw redis error."""

    async def test() -> None:
        bus = RedisBus("redis://127.0.0.1:1/0", namespace="nowhere", connect_timeout=1)
        try:
            with pytest.raises(EventBusError, match="cannot publish a log_line event"):
                await bus.publish(log(0))
        finally:
            await bus.close()

    run(test)


def test_subscribe_without_redis_times_out_clearly() -> None:
    """Waiting for a subscription to an unreachable Redis ends in EventBusError."""

    async def test() -> None:
        bus = RedisBus(
            "redis://127.0.0.1:1/0", namespace="nowhere", connect_timeout=0.2, reconnect_delay=0.05
        )
        try:
            with pytest.raises(EventBusError, match="could not subscribe"):
                async with bus.subscribe():
                    pass
        finally:
            await bus.close()

    run(test)
