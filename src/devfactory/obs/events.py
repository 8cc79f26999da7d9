"""Typed events, and the bus that carries them to live subscribers (dashboard, gateway).

An event is a frozen pydantic model with a ``type`` discriminator, an ``id`` and an ``at``
timestamp (aware, UTC). The bus stamps the id on publish: ids increase by one per event
across the whole bus, so a subscriber that reconnects can ask for everything after the last
id it saw (an SSE ``Last-Event-ID``).

Two buses share one interface, :class:`EventBus`:

* :class:`MemoryBus` — in this process only. Publishing is synchronous under a lock, so
  :meth:`MemoryBus.publish_threadsafe` works from worker threads (the log writer, the
  executor); a waiting subscriber is woken with ``loop.call_soon_threadsafe``.
* :class:`RedisBus` — across processes, over Redis pub/sub. A Lua script increments a
  namespaced id key, appends the event to a bounded history list and publishes it, all in
  one atomic step, so ids are global and arrive in order. One reader task per bus feeds the
  local subscribers. A lost connection is logged and the reader reconnects (with backoff),
  then fills the gap from the history list; :meth:`RedisBus.publish` raises
  :class:`EventBusError` when Redis cannot take the event.

Every subscriber has its own bounded queue. When it is full the **oldest** event is dropped,
counted on :attr:`Subscription.dropped` and in ``devfactory_events_dropped_total{bus}``:
publishing never blocks and never fails because a subscriber is slow.

Example::

    bus = open_bus(settings.redis_url)
    async with bus.subscribe({"gate_halted"}) as sub:
        await bus.publish(GateHalted(approval_id="a1", tool="notion.delete", server="notion",
                                     score=0.9, reasons=("destructive",)))
        event = await anext(sub)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Annotated, Any, Literal, Protocol, Self

import orjson
import redis.asyncio
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from redis.exceptions import RedisError

from devfactory.errors import EventBusError, InvalidEventError
from devfactory.obs.metrics import EVENTS_DROPPED

__all__ = [
    "EVENT_TYPES",
    "BaseEvent",
    "DeployProgress",
    "Event",
    "EventBus",
    "EventBusError",
    "GateApproved",
    "GateDenied",
    "GateHalted",
    "InvalidEventError",
    "LogLine",
    "MemoryBus",
    "OperationFinished",
    "OperationStarted",
    "RedisBus",
    "Subscription",
    "open_bus",
    "parse_event",
]

log = logging.getLogger("devfactory.events")

for _bus in ("memory", "redis"):
    EVENTS_DROPPED.labels(_bus)


# ---------------------------------------------------------------------------------- events


def _utcnow() -> datetime:
    return datetime.now(UTC)


class BaseEvent(BaseModel):
    """Fields every event has: ``type``, ``id`` (0 until published) and ``at`` (UTC)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    id: int = Field(default=0, ge=0, description="Set by the bus on publish; 0 = unpublished.")
    at: AwareDatetime = Field(default_factory=_utcnow)

    @field_validator("at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def to_json(self) -> bytes:
        """The event as compact JSON (``at`` as ISO 8601 ending in ``Z``)."""
        return self.model_dump_json().encode()


class OperationStarted(BaseEvent):
    """An operation (a deploy, a tool call, a task) began."""

    type: Literal["operation_started"] = "operation_started"
    operation_id: str
    parent_operation_id: str | None = None
    name: str
    component: str


class OperationFinished(BaseEvent):
    """An operation ended; ``outcome`` is e.g. ``succeeded``, ``failed`` or ``cancelled``."""

    type: Literal["operation_finished"] = "operation_finished"
    operation_id: str
    name: str
    outcome: str
    duration_s: float = Field(ge=0)


class GateHalted(BaseEvent):
    """The gate stopped a tool call; it waits for a person under ``approval_id``."""

    type: Literal["gate_halted"] = "gate_halted"
    approval_id: str
    tool: str
    server: str
    score: float
    reasons: tuple[str, ...] = ()


class GateApproved(BaseEvent):
    """A person approved a halted call."""

    type: Literal["gate_approved"] = "gate_approved"
    approval_id: str
    reviewer: str
    note: str | None = None


class GateDenied(BaseEvent):
    """A person denied a halted call."""

    type: Literal["gate_denied"] = "gate_denied"
    approval_id: str
    reviewer: str
    note: str | None = None


class DeployProgress(BaseEvent):
    """A deploy applied step ``step_index`` (0-based) of ``total``."""

    type: Literal["deploy_progress"] = "deploy_progress"
    environment: str
    step_index: int = Field(ge=0)
    total: int = Field(ge=0)
    action: str
    target: str


class LogLine(BaseEvent):
    """One log line as written to a stream (``line`` is the JSON line itself)."""

    type: Literal["log_line"] = "log_line"
    stream: str
    level: str
    component: str
    event: str
    operation_id: str | None = None
    line: str


Event = Annotated[
    OperationStarted
    | OperationFinished
    | GateHalted
    | GateApproved
    | GateDenied
    | DeployProgress
    | LogLine,
    Field(discriminator="type"),
]
"""Any event; ``event.type`` tells which."""

EVENT_TYPES: dict[str, type[BaseEvent]] = {
    "operation_started": OperationStarted,
    "operation_finished": OperationFinished,
    "gate_halted": GateHalted,
    "gate_approved": GateApproved,
    "gate_denied": GateDenied,
    "deploy_progress": DeployProgress,
    "log_line": LogLine,
}

# mypy cannot see that an Annotated union is a valid TypeAdapter argument.
_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)  # type: ignore[arg-type, unused-ignore]


def parse_event(data: bytes | str) -> Event:
    """Validate one JSON event; anything else is an :class:`InvalidEventError` saying why."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidEventError(f"event is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidEventError(f"event must be a JSON object, not {type(raw).__name__}")
    kind = raw.get("type")
    if kind not in EVENT_TYPES:
        known = ", ".join(sorted(EVENT_TYPES))
        raise InvalidEventError(f"unknown event type {kind!r} (known: {known})")
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'event'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidEventError(f"invalid {kind} event: {problems}") from exc


def _check_types(types: Iterable[str] | None) -> frozenset[str] | None:
    if types is None:
        return None
    chosen = frozenset(types)
    unknown = chosen - EVENT_TYPES.keys()
    if unknown:
        raise ValueError(f"unknown event types {sorted(unknown)} (known: {sorted(EVENT_TYPES)})")
    return chosen


# ---------------------------------------------------------------------------- subscription


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Subscription:
    """One subscriber's bounded queue of events; iterate it with ``async for`` or ``anext``.

    Use it as an async context manager (``async with bus.subscribe() as sub``): entering
    waits until the subscription is live (on Redis: subscribed and replayed), leaving
    closes it. After :meth:`close` iteration stops and queued events are discarded.

    ``dropped`` counts events discarded because the queue was full (oldest first); ``gap``
    is true when a replay could not reach back to ``after_id`` (the history had moved on).
    """

    def __init__(
        self,
        *,
        types: frozenset[str] | None,
        maxsize: int,
        bus: str,
        on_close: Callable[[Subscription], None],
        start: Callable[[Subscription], Awaitable[None]] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.types = types
        self.maxsize = maxsize
        self.dropped = 0
        self.gap = False
        self._metric = EVENTS_DROPPED.labels(bus)
        self._queue: deque[Event] = deque()
        self._lock = threading.Lock()
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_close = on_close
        self._start = start

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (or the bus closed)."""
        return self._closed

    def __len__(self) -> int:
        return len(self._queue)

    def wants(self, event: Event) -> bool:
        """Whether the type filter lets ``event`` through."""
        return self.types is None or event.type in self.types

    def push(self, event: Event) -> None:
        """Queue ``event`` (from any thread); a full queue drops its oldest event first."""
        if not self.wants(event):
            return
        with self._lock:
            if self._closed:
                return
            if len(self._queue) >= self.maxsize:
                self._queue.popleft()
                self._drop(1)
            self._queue.append(event)
        self._notify()

    def _replay(self, events: list[Event]) -> None:
        """Put replayed ``events`` before the live ones queued meanwhile (no duplicates)."""
        events = [e for e in events if self.wants(e)]
        if not events:
            return
        with self._lock:
            last = events[-1].id
            merged = events + [e for e in self._queue if e.id > last]
            overflow = len(merged) - self.maxsize
            if overflow > 0:
                merged = merged[overflow:]
                self._drop(overflow)
            self._queue = deque(merged)
        self._notify()

    def _drop(self, count: int) -> None:
        self.dropped += count
        self._metric.inc(count)

    def _notify(self) -> None:
        waiter, loop = self._waiter, self._loop
        if waiter is None or loop is None:
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            _wake(waiter)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_wake, waiter)

    async def ready(self) -> None:
        """Wait until events are flowing (immediate on a :class:`MemoryBus`)."""
        start, self._start = self._start, None
        if start is not None:
            try:
                await start(self)
            except BaseException:
                self._start = start
                raise

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        await self.ready()
        while True:
            with self._lock:
                if self._closed:
                    raise StopAsyncIteration
                if self._queue:
                    return self._queue.popleft()
                self._loop = asyncio.get_running_loop()
                waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    def close(self) -> None:
        """Stop: iteration ends, queued events are discarded, the bus forgets this subscriber."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.clear()
        self._on_close(self)
        self._notify()

    async def __aenter__(self) -> Self:
        await self.ready()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# ------------------------------------------------------------------------------------ buses


class EventBus(Protocol):
    """What both buses offer; pick one with :func:`open_bus`."""

    async def publish(self, event: Event) -> Event:
        """Send ``event`` to every subscriber; returns it stamped with its id."""
        ...

    def publish_threadsafe(self, event: Event) -> None:
        """Publish from a thread that is not the event loop's (fire and forget)."""
        ...

    def subscribe(
        self,
        types: Iterable[str] | None = None,
        *,
        maxsize: int = 1000,
        after_id: int | None = None,
    ) -> Subscription:
        """A new subscriber for ``types`` (None: all), replaying events after ``after_id``."""
        ...

    async def close(self) -> None:
        """Close every subscription and release the bus's resources."""
        ...


class MemoryBus:
    """An in-process bus; keeps the last ``history`` events for replay."""

    label = "memory"

    def __init__(self, *, history: int = 1000) -> None:
        if history < 0:
            raise ValueError("history must not be negative")
        self._lock = threading.Lock()
        self._last_id = 0
        self._history: deque[Event] = deque(maxlen=history)
        self._subscriptions: list[Subscription] = []
        self._closed = False

    @property
    def last_id(self) -> int:
        """The id of the latest event published (0: none yet)."""
        return self._last_id

    async def publish(self, event: Event) -> Event:
        """Stamp ``event`` with the next id and queue it for every subscriber; never blocks."""
        return self._publish(event)

    def publish_threadsafe(self, event: Event) -> None:
        """Publish from any thread; does nothing once the bus is closed."""
        with contextlib.suppress(EventBusError):
            self._publish(event)

    def _publish(self, event: Event) -> Event:
        with self._lock:
            if self._closed:
                raise EventBusError("the event bus is closed")
            self._last_id += 1
            stamped = event.model_copy(update={"id": self._last_id})
            self._history.append(stamped)
            for subscription in self._subscriptions:
                subscription.push(stamped)
        return stamped

    def subscribe(
        self,
        types: Iterable[str] | None = None,
        *,
        maxsize: int = 1000,
        after_id: int | None = None,
    ) -> Subscription:
        """A new subscriber; with ``after_id`` it first gets the kept events newer than it."""
        subscription = Subscription(
            types=_check_types(types), maxsize=maxsize, bus=self.label, on_close=self._forget
        )
        with self._lock:
            if self._closed:
                raise EventBusError("the event bus is closed")
            if after_id is not None:
                oldest = self._history[0].id if self._history else self._last_id + 1
                subscription.gap = after_id + 1 < oldest and after_id < self._last_id
                subscription._replay([e for e in self._history if e.id > after_id])
            self._subscriptions.append(subscription)
        return subscription

    def _forget(self, subscription: Subscription) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)

    async def close(self) -> None:
        """Close every subscription; later publishes raise :class:`EventBusError`."""
        with self._lock:
            self._closed = True
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.close()


# One atomic step: next id, history, publish. Ids therefore reach subscribers in order.
_PUBLISH_LUA = """
local id = redis.call('INCR', KEYS[1])
local message = '{"id":' .. string.format('%d', id) .. ',' .. string.sub(ARGV[1], 2)
local keep = tonumber(ARGV[3])
if keep > 0 then
  redis.call('RPUSH', KEYS[2], message)
  redis.call('LTRIM', KEYS[2], -keep, -1)
end
redis.call('PUBLISH', ARGV[2], message)
return id
"""


class RedisBus:
    """A bus shared by every process using the same Redis and ``namespace``.

    Keys: ``<namespace>:events:seq`` (the id counter) and ``<namespace>:events:history``
    (the last ``history`` events, for replay); the channel defaults to
    ``<namespace>:events`` (``devfactory:events``). Use one bus within one event loop.
    ``redis_options`` go to ``redis.asyncio.Redis.from_url`` (e.g. ``client_name``).
    """

    label = "redis"

    def __init__(
        self,
        url: str,
        *,
        channel: str | None = None,
        namespace: str = "devfactory",
        history: int = 1000,
        connect_timeout: float = 5.0,
        reconnect_delay: float = 0.5,
        **redis_options: Any,
    ) -> None:
        if history < 0:
            raise ValueError("history must not be negative")
        self.channel = channel or f"{namespace}:events"
        self._seq_key = f"{namespace}:events:seq"
        self._history_key = f"{namespace}:events:history"
        self._history = history
        self._connect_timeout = connect_timeout
        self._reconnect_delay = reconnect_delay
        redis_options.setdefault("socket_connect_timeout", connect_timeout)
        self._redis = redis.asyncio.Redis.from_url(url, **redis_options)
        self._script = self._redis.register_script(_PUBLISH_LUA)
        self._subscriptions: list[Subscription] = []
        self._lock = threading.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._order: asyncio.Lock | None = None
        self._seen: int | None = None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()

    async def publish(self, event: Event) -> Event:
        """Publish through Redis; raises :class:`EventBusError` when Redis fails."""
        if self._closed:
            raise EventBusError("the event bus is closed")
        self._loop = asyncio.get_running_loop()
        payload = event.model_dump_json(exclude={"id"})
        try:
            new_id = await self._script(
                keys=[self._seq_key, self._history_key],
                args=[payload, self.channel, self._history],
            )
        except RedisError as exc:
            raise EventBusError(
                f"cannot publish a {event.type} event: Redis failed ({type(exc).__name__}: {exc})"
            ) from exc
        return event.model_copy(update={"id": int(new_id)})

    def publish_threadsafe(self, event: Event) -> None:
        """Publish from another thread, in call order; failures are logged, not raised.

        Raises :class:`EventBusError` if the bus has not been used in an event loop yet.
        """
        if self._closed:
            return
        loop = self._loop
        if loop is None or loop.is_closed():
            raise EventBusError("the Redis event bus is not running in an event loop yet")
        future = asyncio.run_coroutine_threadsafe(self._publish_in_order(event), loop)
        future.add_done_callback(_log_failure)

    async def _publish_in_order(self, event: Event) -> None:
        if self._order is None:
            self._order = asyncio.Lock()
        async with self._order:
            await self.publish(event)

    def subscribe(
        self,
        types: Iterable[str] | None = None,
        *,
        maxsize: int = 1000,
        after_id: int | None = None,
    ) -> Subscription:
        """A new subscriber; events flow once :meth:`Subscription.ready` (or ``async with``)
        returns, after the kept events newer than ``after_id`` are replayed."""
        if self._closed:
            raise EventBusError("the event bus is closed")

        async def start(subscription: Subscription) -> None:
            await self._ensure_reader()
            if after_id is not None:
                history = await self._read_history()
                oldest = history[0].id if history else None
                subscription.gap = oldest is not None and after_id + 1 < oldest
                subscription._replay([e for e in history if e.id > after_id])

        subscription = Subscription(
            types=_check_types(types),
            maxsize=maxsize,
            bus=self.label,
            on_close=self._forget,
            start=start,
        )
        with self._lock:
            self._subscriptions.append(subscription)
        return subscription

    def _forget(self, subscription: Subscription) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)

    async def _ensure_reader(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="devfactory-events-reader")
        try:
            await asyncio.wait_for(self._ready.wait(), self._connect_timeout)
        except TimeoutError as exc:
            raise EventBusError(
                f"could not subscribe to {self.channel!r} on Redis within {self._connect_timeout} s"
            ) from exc

    async def _read_history(self) -> list[Event]:
        try:
            lines = await self._redis.lrange(self._history_key, 0, -1)  # type: ignore[misc]
        except RedisError as exc:
            raise EventBusError(f"cannot read the event history from Redis: {exc}") from exc
        events = []
        for line in lines:
            try:
                events.append(parse_event(line))
            except InvalidEventError as exc:
                log.warning("skipping a malformed event in the history: %s", exc)
        return events

    async def _read(self) -> None:
        """The reader task: subscribe, deliver, and on a lost connection log and reconnect."""
        delay = self._reconnect_delay
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        if self._seen is not None:  # reconnected: fill the gap
                            for event in await self._read_history():
                                self._deliver(event)
                        self._ready.set()
                        delay = self._reconnect_delay
                    elif message["type"] == "message":
                        try:
                            self._deliver(parse_event(message["data"]))
                        except InvalidEventError as exc:
                            log.warning("skipping a malformed event on %s: %s", self.channel, exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._ready.clear()
                log.warning(
                    "event bus lost Redis (%s: %s); reconnecting in %.1f s",
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _deliver(self, event: Event) -> None:
        if self._seen is not None and event.id <= self._seen:
            return  # already delivered (a replayed gap overlapping live messages)
        self._seen = event.id
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.push(event)

    async def close(self) -> None:
        """Close every subscription, stop the reader and the Redis connections."""
        self._closed = True
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._redis.aclose()


def _log_failure(future: concurrent.futures.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("dropped an event published from a thread: %s", future.exception())


def open_bus(redis_url: str | SecretStr | None, **options: Any) -> EventBus:
    """A :class:`RedisBus` when a Redis URL is set (``DEVFACTORY_REDIS_URL``), else a
    :class:`MemoryBus`; ``options`` go to the bus's constructor."""
    if isinstance(redis_url, SecretStr):
        redis_url = redis_url.get_secret_value()
    if redis_url:
        return RedisBus(redis_url, **options)
    return MemoryBus(**options)
