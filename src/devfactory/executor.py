"""Run calls to the outside world: timeouts, retries with back-off, idempotency, rate limits,
and a registry of what ran.

Every call to Notion (and, later, to MCP tools) is a *task* run by an :class:`Executor`:

- each **attempt** is bounded by :attr:`RetryPolicy.timeout` (a timed-out attempt is a
  transient, *ambiguous* failure: the request may have been processed);
- a **transient** failure (429 with its Retry-After, 409, 5xx, timeouts, dropped connections)
  is retried after an exponential back-off with full jitter, within a budget of waiting;
- the caller says how safe repeating the call is (:class:`Idempotency`): an **unsafe** call
  (a create) that failed ambiguously is first *resolved* (did the write happen?) with the
  caller's ``resolve`` coroutine, and made again only when it did not — so no retry ever
  leaves a duplicate;
- anything else is raised at once as the matching :mod:`devfactory.errors` class.

Rate limiters (:class:`TokenBucket` in memory, :class:`RedisTokenBucket` shared across
processes) pace the HTTP requests themselves; :func:`limiter_for` picks one per target.
:class:`TaskRegistry` keeps finished tasks in the store (SQLite or PostgreSQL).

Time comes from a :class:`Clock`, so tests use :class:`ManualClock` and never sleep.
See ``docs/executor.md``.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import hashlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx
from notion_client.errors import HTTPResponseError, RequestTimeoutError

from devfactory.db import Database, redact_url
from devfactory.errors import (
    ConfigError,
    NotionError,
    RateLimitedError,
    TransientNotionError,
    notion_error_for,
)
from devfactory.obs.log import current_operation_id, get_logger
from devfactory.obs.metrics import RETRIES, TASKS
from devfactory.obs.redact import redact_text

__all__ = [
    "Clock",
    "Executor",
    "Failure",
    "Idempotency",
    "ManualClock",
    "RateLimiter",
    "RedisTokenBucket",
    "RetryPolicy",
    "SystemClock",
    "Task",
    "TaskRegistry",
    "TokenBucket",
    "as_devfactory_error",
    "bucket_key",
    "classify",
    "current_attempt",
    "limiter_for",
    "redact",
]

T = TypeVar("T")
_log = get_logger("executor")

# --------------------------------------------------------------------------- clocks


class Clock(Protocol):
    """Where time comes from: monotonic seconds, and a way to wait."""

    def now(self) -> float:
        """Monotonic seconds (only differences mean anything)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic` and :func:`asyncio.sleep`."""

    def now(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Wait in real time."""
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock for tests: ``sleep`` moves the time on at once and records how long it was.

    Example::

        clock = ManualClock()
        await clock.sleep(1.5)
        assert clock.now() == 1.5 and clock.sleeps == [1.5]

    Sleeps of concurrent tasks add up (time is one counter), so keep timing tests sequential.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        """The current (manual) time."""
        return self.time

    async def sleep(self, seconds: float) -> None:
        """Record the sleep, advance the time, and let other tasks run."""
        self.sleeps.append(seconds)
        self.time += max(0.0, seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Move the time on without a sleep (time passing elsewhere)."""
        self.time += seconds


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How hard to try one call.

    ``attempts`` in all; back-off ``base`` and ``cap`` in seconds; ``total`` is the budget of
    waiting between attempts (seconds); ``timeout`` bounds each attempt (``None``: no bound).
    """

    attempts: int = 12
    base: float = 0.1
    cap: float = 5.0
    total: float = 300.0
    timeout: float | None = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.base < 0 or self.cap < 0 or self.total < 0:
            raise ValueError("RetryPolicy.base, cap and total must not be negative")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError("RetryPolicy.timeout must be positive (or None)")

    def backoff(self, failures: int, rng: Callable[[], float]) -> float:
        """The wait after the ``failures``-th failure (1-based): full jitter, uniform in
        ``[0, min(cap, base * 2**(failures-1)))``."""
        return float(rng() * min(self.cap, self.base * 2 ** (failures - 1)))


class Idempotency(enum.Enum):
    """How safe it is to run a call again.

    ``SAFE``: a read. ``IDEMPOTENT``: a write that ends in the same state however often it
    runs (an update). ``UNSAFE``: a write that makes something new each time (a create);
    after an ambiguous failure it is resolved before it is tried again.
    """

    SAFE = "safe"
    IDEMPOTENT = "idempotent"
    UNSAFE = "unsafe"


# --------------------------------------------------------------------------- failures

TRANSIENT_STATUSES = frozenset([409, 429, 500, 502, 503, 504, 529])
# Answers after which a write may or may not have happened.
AMBIGUOUS_STATUSES = frozenset([500, 502, 503, 504, 529])
# Failures before the request left: it cannot have been processed.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_NO_ANSWER = (RequestTimeoutError, httpx.TransportError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt, classified: may it succeed later, may it have happened, and how long
    the server asked us to wait (seconds)."""

    error: Exception
    transient: bool
    ambiguous: bool
    retry_after: float | None = None


def _retry_after(headers: Any, default: float | None) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


def classify(error: Exception) -> Failure:
    """Classify a failed attempt (notion-client, httpx, timeouts and devfactory errors)."""
    if isinstance(error, HTTPResponseError):
        status = error.status
        default = 1.0 if status == 429 else None
        retry_after = _retry_after(error.headers, default) if status in (429, 503) else None
        return Failure(
            error, status in TRANSIENT_STATUSES, status in AMBIGUOUS_STATUSES, retry_after
        )
    if isinstance(error, NotionError):
        retry_after = float(error.retry_after) if isinstance(error, RateLimitedError) else None
        transient = isinstance(error, TransientNotionError) or error.status in TRANSIENT_STATUSES
        return Failure(error, transient, error.status in AMBIGUOUS_STATUSES, retry_after)
    if isinstance(error, _NOT_SENT):
        return Failure(error, transient=True, ambiguous=False)
    if isinstance(error, _NO_ANSWER):
        return Failure(error, transient=True, ambiguous=True)
    return Failure(error, transient=False, ambiguous=False)


def as_devfactory_error(error: Exception, kind: str = "notion") -> Exception:
    """The :mod:`devfactory.errors` class for a failure (others are returned unchanged)."""
    if isinstance(error, HTTPResponseError):
        code: Any = getattr(error, "code", None)
        code_text = str(getattr(code, "value", code) or "unknown")
        mapped = notion_error_for(error.status, code_text, str(error))
        if isinstance(mapped, RateLimitedError):
            mapped.retry_after = int(_retry_after(error.headers, 1.0) or 0)
        return mapped
    if isinstance(error, _NO_ANSWER):
        what = "Notion" if kind == "notion" else kind
        detail = f": {error}" if str(error) else ""
        return TransientNotionError(f"no answer from {what}: {type(error).__name__}{detail}")
    return error


def _describe(error: Exception, kind: str) -> str:
    mapped = as_devfactory_error(error, kind)
    return f"{type(mapped).__name__}: {mapped}"


# --------------------------------------------------------------------------- executor

_ATTEMPT: contextvars.ContextVar[int] = contextvars.ContextVar("devfactory_attempt", default=1)


def current_attempt() -> int:
    """The attempt (1-based) of the executor call running in this context; 1 outside one."""
    return _ATTEMPT.get()


@dataclass(slots=True)
class Task:
    """One call run by the executor, as the registry keeps it."""

    id: str
    label: str
    kind: str
    status: str  # queued | running | succeeded | failed
    attempts: int = 0
    started_at: float = 0.0  # wall clock (epoch seconds)
    finished_at: float | None = None
    duration_s: float | None = None
    error: str | None = None
    operation_id: str | None = None


class Executor:
    """Runs calls with timeouts and retries; counts ``retries`` and ``lookups`` for reports.

    Example::

        executor = Executor(RetryPolicy(attempts=5))
        page = await executor.run(
            partial(client.pages.create, **body),
            idempotency=Idempotency.UNSAFE,
            resolve=partial(find_page, title),  # did an ambiguous create happen after all?
            label="create page",
        )
    """

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        clock: Clock | None = None,
        rng: Callable[[], float] = random.random,
        registry: TaskRegistry | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.clock: Clock = clock or SystemClock()
        self.rng = rng
        self.registry = registry
        self.retries = 0  # attempts after the first, over every call
        self.lookups = 0  # resolutions of ambiguous unsafe calls

    async def run(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        idempotency: Idempotency,
        resolve: Callable[[], Awaitable[T | None]] | None = None,
        label: str,
        kind: str = "notion",
    ) -> T:
        """Run ``fn`` until it succeeds or fails for good; its result.

        Raises the :mod:`devfactory.errors` class of a permanent failure at once; an
        ambiguous failure of an ``UNSAFE`` call without ``resolve`` likewise; and a
        :class:`~devfactory.errors.TransientNotionError` naming the last failure when the
        attempts or the budget of waiting run out.
        """
        # A random 128-bit id from the PRNG: os.urandom (uuid4) costs ~0.3 ms on some VMs.
        task = Task(
            f"{random.getrandbits(128):032x}", label, kind, "running", started_at=time.time()
        )
        task.operation_id = current_operation_id()
        started = self.clock.now()
        try:
            result = await self._run_with_retries(fn, idempotency, resolve, task)
        except BaseException as exc:
            self._finish(task, started, exc)
            raise
        self._finish(task, started, None)
        return result

    async def _run_with_retries(
        self,
        fn: Callable[[], Awaitable[T]],
        idempotency: Idempotency,
        resolve: Callable[[], Awaitable[T | None]] | None,
        task: Task,
    ) -> T:
        policy, label, kind = self.policy, task.label, task.kind
        waited = 0.0
        for attempt in range(1, policy.attempts + 1):
            if attempt > 1:
                self.retries += 1
                RETRIES.labels(kind).inc()
            task.attempts = attempt
            try:
                return await self._attempt(fn, attempt)
            except Exception as exc:  # classified; anything permanent is re-raised below
                failure = classify(exc)
            if not failure.transient:
                raise as_devfactory_error(failure.error, kind) from failure.error
            if failure.ambiguous and idempotency is Idempotency.UNSAFE:
                if resolve is None:
                    raise as_devfactory_error(failure.error, kind) from failure.error
                self.lookups += 1
                # The resolver makes its own calls through an executor (with their retries);
                # it answers whether the write happened, and what it made.
                found = await resolve()
                if found is not None:
                    return found
            if attempt == policy.attempts:
                break
            if attempt == 1 and self.registry is not None:
                self._started(self.registry, task)  # a retried call shows as running
            delay = self._delay(failure, attempt, policy.total - waited, label, kind)
            waited += delay
            await self.clock.sleep(delay)
        raise TransientNotionError(
            f"{label}: gave up after {policy.attempts} attempts ({_describe(failure.error, kind)})"
        ) from failure.error

    async def _attempt(self, fn: Callable[[], Awaitable[T]], attempt: int) -> T:
        token = _ATTEMPT.set(attempt)
        try:
            # asyncio.timeout runs on the event loop's clock, not on self.clock: an attempt
            # that hangs is cancelled after real seconds.
            async with asyncio.timeout(self.policy.timeout):
                return await fn()
        finally:
            _ATTEMPT.reset(token)

    def _delay(
        self, failure: Failure, attempt: int, remaining: float, label: str, kind: str
    ) -> float:
        """Seconds to wait before the next attempt, or raise when the budget cannot cover it."""
        if failure.retry_after is not None:
            if failure.retry_after > remaining:
                raise TransientNotionError(
                    f"{label}: the server asked to wait {failure.retry_after:g} s (Retry-After), "
                    f"more than the {max(0.0, remaining):.1f} s left of the "
                    f"{self.policy.total:g} s retry budget; giving up "
                    f"({_describe(failure.error, kind)})"
                ) from failure.error
            return failure.retry_after
        if remaining <= 0:
            raise TransientNotionError(
                f"{label}: the {self.policy.total:g} s retry budget is spent after {attempt} "
                f"attempts ({_describe(failure.error, kind)})"
            ) from failure.error
        return min(self.policy.backoff(attempt, self.rng), remaining)

    def _started(self, registry: TaskRegistry, task: Task) -> None:
        try:
            registry.started(task)
        except Exception as exc:  # then it is written (or not) when it finishes
            _log.warning("task not recorded", label=task.label, error=_describe(exc, ""))

    def _finish(self, task: Task, started: float, error: BaseException | None) -> None:
        task.status = "failed" if error is not None else "succeeded"
        task.finished_at = time.time()
        task.duration_s = max(0.0, self.clock.now() - started)
        if error is not None:
            task.error = redact(f"{type(error).__name__}: {error}")
        TASKS.labels(task.status).inc()
        if self.registry is not None:
            try:
                self.registry.finished(task)
            except Exception as exc:  # the record is lost, the call's outcome stands
                _log.warning("task not recorded", label=task.label, error=_describe(exc, ""))


# --------------------------------------------------------------------------- task registry

ERROR_CHARS = 1000
FLUSH_ROWS = 100
FLUSH_SECONDS = 2.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION,
    duration_s DOUBLE PRECISION,
    error TEXT,
    operation_id TEXT
);
CREATE INDEX IF NOT EXISTS tasks_by_start ON tasks (started_at);
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks (status, started_at)
"""
_COLUMNS = (
    "id, label, kind, status, attempts, started_at, finished_at, duration_s, error, operation_id"
)
_INSERT = f"INSERT INTO tasks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_UPDATE = (
    "UPDATE tasks SET status = ?, attempts = ?, finished_at = ?, duration_s = ?, error = ? "
    "WHERE id = ?"
)


def redact(text: str) -> str:
    """``text`` without secrets (:func:`devfactory.obs.redact.redact_text`: tokens, bearer
    values, URL passwords, registered secrets), cut to :data:`ERROR_CHARS` characters."""
    cleaned = redact_text(text)
    return cleaned if len(cleaned) <= ERROR_CHARS else cleaned[: ERROR_CHARS - 1] + "…"


def _row(task: Task) -> tuple[Any, ...]:
    return (
        task.id,
        task.label,
        task.kind,
        task.status,
        task.attempts,
        task.started_at,
        task.finished_at,
        task.duration_s,
        task.error,
        task.operation_id,
    )


class TaskRegistry:
    """The ``tasks`` table of the store: every call the executor ran, with its outcome.

    Writing must not slow an apply, so finished tasks are buffered and written in batches
    (every :data:`FLUSH_ROWS` tasks or :data:`FLUSH_SECONDS` seconds, at once for a failure,
    and on :meth:`flush` / :meth:`close`). A call that needs a retry is written at once as
    ``running`` (it is about to wait anyway), so long retry loops show while they last.
    """

    def __init__(self, db: Database, *, wall: Callable[[], float] = time.time) -> None:
        self.db = db
        self._wall = wall
        self._pending: list[Task] = []
        self._running: set[str] = set()
        self._last_flush = wall()
        db.script(_SCHEMA)

    def started(self, task: Task) -> None:
        """Write a task as running now (it will be updated when it finishes)."""
        self.db.execute(_INSERT, _row(task))
        self._running.add(task.id)

    def finished(self, task: Task) -> None:
        """Record a finished task (buffered, unless it failed or had been written running)."""
        if task.id in self._running:
            self._running.discard(task.id)
            self.db.execute(
                _UPDATE,
                (
                    task.status,
                    task.attempts,
                    task.finished_at,
                    task.duration_s,
                    task.error,
                    task.id,
                ),
            )
            return
        self._pending.append(task)
        if (
            task.error is not None
            or len(self._pending) >= FLUSH_ROWS
            or self._wall() - self._last_flush >= FLUSH_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        """Write the buffered tasks."""
        self._last_flush = self._wall()
        if not self._pending:
            return
        rows = [_row(t) for t in self._pending]
        self._pending = []
        with self.db.transaction():
            self.db.executemany(_INSERT, rows)

    def list(self, status: str | None = None, limit: int = 100) -> list[Task]:
        """The latest tasks first, optionally of one status."""
        self.flush()
        where, params = ("WHERE status = ? ", [status]) if status else ("", [])
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM tasks {where}ORDER BY started_at DESC, id LIMIT ?",
            [*params, int(limit)],
        )
        return [Task(*row) for row in rows]

    def get(self, task_id: str) -> Task | None:
        """One task by id."""
        self.flush()
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", [task_id])
        return Task(*rows[0]) if rows else None

    def counts(self) -> dict[str, int]:
        """How many tasks there are of each status (every status present, zeros included)."""
        self.flush()
        found = dict(self.db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status"))
        return {s: int(found.get(s, 0)) for s in ("queued", "running", "succeeded", "failed")}

    def close(self) -> None:
        """Write what is buffered (the database stays open; its owner closes it)."""
        self.flush()


# --------------------------------------------------------------------------- rate limiters


class RateLimiter(Protocol):
    """Paces outgoing requests: ``acquire`` waits for a token; ``aclose`` releases resources."""

    async def acquire(self) -> float:
        """Take one token, waiting for it if needed; the seconds waited."""
        ...

    async def aclose(self) -> None:
        """Release connections (idempotent)."""
        ...


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up, in this process; ``rate=None``
    never waits.

    A token is *reserved*: the bucket may go into debt, and each caller waits until its token
    would have arrived, so concurrent callers are paced in order without a lock.
    """

    def __init__(self, rate: float | None, burst: int = 1, clock: Clock | None = None) -> None:
        self.rate = rate if rate is not None and rate > 0 else None
        self.burst = max(1, int(burst))
        self.clock: Clock = clock or SystemClock()
        self._tokens = float(self.burst)
        self._last = self.clock.now()
        self.waited = 0.0

    async def acquire(self) -> float:
        """Take one token, waiting for it if needed; the seconds waited."""
        if self.rate is None:
            return 0.0
        now = self.clock.now()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= 1.0
        wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            await self.clock.sleep(wait)
        self.waited += wait
        return wait

    async def aclose(self) -> None:
        """Nothing to release."""


# One atomic step: refill from the time elapsed (Redis server TIME, so every process on every
# host agrees on one clock), reserve a token (the bucket may go into debt), and answer the
# microseconds the caller must wait for its token. The key expires once it would be full again.
_REDIS_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
  ts = now
end
tokens = tokens - 1
local wait = 0
if tokens < 0 then wait = math.ceil(-tokens * 1000000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'ts', string.format('%.17g', ts))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return wait
"""


class RedisTokenBucket:
    """A token bucket in Redis under ``key``, shared by every process that uses the same key.

    One Lua script does the whole step atomically (loaded once, then run by EVALSHA). It uses
    the Redis server's ``TIME``: monotonic clocks of different processes are not comparable
    and wall clocks of different hosts drift, but every caller sees the one server clock.
    ``clock`` is only used to wait for the reserved token.
    """

    def __init__(
        self,
        url: str,
        key: str,
        rate: float | None,
        burst: int = 1,
        clock: Clock | None = None,
    ) -> None:
        self.url = url
        self.key = key
        self.rate = rate if rate is not None and rate > 0 else None
        self.burst = max(1, int(burst))
        self.clock: Clock = clock or SystemClock()
        self.waited = 0.0
        self._client: Any = None
        self._script: Any = None

    async def acquire(self) -> float:
        """Reserve one token in Redis and wait until it is due; the seconds waited."""
        if self.rate is None:
            return 0.0
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        if self._client is None:  # made lazily: the client belongs to the running loop
            self._client = aioredis.Redis.from_url(self.url, socket_connect_timeout=5)
            self._script = self._client.register_script(_REDIS_BUCKET)
        try:
            micros = int(await self._script(keys=[self.key], args=[self.rate, self.burst]))
        except RedisError as exc:
            raise ConfigError(
                f"the shared rate limiter cannot use Redis at {redact_url(self.url)}: {exc}"
            ) from exc
        wait = micros / 1_000_000
        if wait > 0:
            await self.clock.sleep(wait)
        self.waited += wait
        return wait

    async def aclose(self) -> None:
        """Close the Redis connections."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def __repr__(self) -> str:
        return f"RedisTokenBucket({redact_url(self.url)!r}, key={self.key!r}, rate={self.rate})"


def bucket_key(target_label: str, token: str | None) -> str:
    """The Redis key of a target's bucket: a hash of the target and the token's identity, so
    processes using one token share it, and the token itself is never stored."""
    digest = hashlib.sha256(f"{target_label}\0{token or ''}".encode()).hexdigest()[:32]
    return f"devfactory:ratelimit:{digest}"


def limiter_for(
    target_label: str,
    rate: float | None,
    redis_url: str | None,
    *,
    token: str | None = None,
    burst: int | None = None,
    clock: Clock | None = None,
) -> RateLimiter:
    """The limiter of a target: shared in Redis when ``redis_url`` is set, else in memory;
    ``rate=None`` never waits. ``burst`` defaults to one second's worth of tokens."""
    size = burst if burst is not None else max(1, int(rate or 1))
    if rate is None or rate <= 0:
        return TokenBucket(None)
    if redis_url:
        return RedisTokenBucket(redis_url, bucket_key(target_label, token), rate, size, clock)
    return TokenBucket(rate, size, clock)
