"""Structured JSON logs: streams, operation ids, trace context, redaction and sinks.

One JSON object per line (structlog native, orjson), keys in this order::

    timestamp  level  stream  component  event
    [operation_id  parent_operation_id  trace_id  span_id  <operation fields>]  <call fields>

``timestamp`` is ISO-8601 UTC with microseconds and ``Z``; ``level`` is lowercase;
``trace_id``/``span_id`` are W3C/OpenTelemetry ids (32 and 16 lowercase hex) present inside an
:func:`operation`. A call field whose name clashes with one of these gets a ``_`` suffix.

Streams are :data:`STREAMS`. A record at level ``error`` or above is written a second time to
the ``errors`` stream (``stream: "errors"``, ``source_stream`` naming the original), so that
stream holds every error.

Nothing is written until :func:`configure` (or :func:`configure_from_settings`) installs
sinks: loggers made at import time are no-ops until then, and pick up every later
reconfiguration (the level is read at call time, never baked into a logger).
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import functools
import os
import random
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from contextvars import ContextVar
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast
from urllib.parse import urlsplit

import orjson
from pydantic import SecretStr
from structlog import BoundLoggerBase

from devfactory.obs import redact as redaction
from devfactory.obs.metrics import LOG_DROPPED, LOG_LINES

if TYPE_CHECKING:
    from devfactory.config import Settings

__all__ = [
    "LEVELS",
    "STREAMS",
    "BoundLogger",
    "ConsoleSink",
    "FileSink",
    "MemorySink",
    "Sink",
    "configure",
    "configure_from_settings",
    "current_operation_id",
    "get_logger",
    "in_thread",
    "operation",
    "run_in_thread",
    "shutdown",
]

STREAMS = ("operations", "audit", "gate", "errors", "performance")
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_OFF = 100  # above every level: what an unconfigured logger filters at
_LEVEL_OF = {
    "debug": "debug",
    "info": "info",
    "warning": "warning",
    "error": "error",
    "exception": "error",
    "critical": "critical",
}
_RESERVED = frozenset(
    {"timestamp", "level", "stream", "component", "event", "source_stream", "operation_id"}
    | {"parent_operation_id", "trace_id", "span_id"}
)
_OPTIONS = orjson.OPT_APPEND_NEWLINE
# Where a logger keeps its stream and component: keys no call field can collide with.
_STREAM_KEY, _COMPONENT_KEY = " stream", " component"

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class Sink(Protocol):
    """Where finished lines go. ``line`` is one redacted JSON object ending in ``\\n``;
    ``record`` is the same data as a mapping (read it, don't keep or change it)."""

    def emit(self, stream: str, line: bytes, record: Mapping[str, Any]) -> None:
        """Take one line; must be fast and thread-safe (buffer, don't block)."""

    def flush(self) -> None:
        """Write out whatever is buffered."""

    def close(self) -> None:
        """Flush and release resources; later lines may be dropped."""


# -- global state: swapped whole by configure(), read without locks on the hot path ----------

_sinks: tuple[Sink, ...] = ()
_min_level = _OFF
_configure_lock = threading.Lock()
_atexit_registered = False
_counters: dict[tuple[str, str], Any] = {
    (stream, level): LOG_LINES.labels(stream, level) for stream in STREAMS for level in LEVELS
}


def _count(stream: str, level: str) -> None:
    child = _counters.get((stream, level))
    if child is None:
        child = _counters[(stream, level)] = LOG_LINES.labels(stream, level)
    child.inc()


# -- operations -------------------------------------------------------------------------------


class _Operation:
    """The ids of one running operation and the fields every line inside it carries."""

    __slots__ = ("fields", "id", "trace_id")

    def __init__(self, id: str, trace_id: str, fields: dict[str, Any]) -> None:
        self.id = id
        self.trace_id = trace_id
        self.fields = fields


_OPERATION: ContextVar[_Operation | None] = ContextVar("devfactory_operation", default=None)


def _hex_id(bits: int) -> str:
    value = 0
    while value == 0:  # W3C: an all-zero trace or span id is invalid
        value = random.getrandbits(bits)
    return f"{value:0{bits // 4}x}"


def current_operation_id() -> str | None:
    """The id of the innermost running :func:`operation` in this context, or ``None``."""
    op = _OPERATION.get()
    return None if op is None else op.id


class operation:  # lower case: used like a function, ``with operation("deploy.apply"):``
    """Run a block (sync or async) or a function as one operation with its own id.

    Inside it every log line carries ``operation_id``, ``parent_operation_id`` (of the
    enclosing operation, if any), ``trace_id`` (inherited from the enclosing operation, new
    otherwise), a new ``span_id`` and the ``fields`` given here. It logs
    ``operation started`` and ``operation finished`` (``duration_s``, ``outcome`` ok, error or
    cancelled, ``error_type`` on failure: never the message, which may hold data) and restores
    the previous operation on exit; ``quiet=True`` leaves those two lines out for callers that
    write their own summary line (the gateway's audit line). asyncio tasks inherit it;
    threads need :func:`in_thread`.

    Example::

        with operation("deploy.apply", workspace="consulting") as op:
            log.info("planning", steps=12)          # carries op.id
        @operation("notion.sync")
        async def sync() -> None: ...
    """

    def __init__(
        self,
        name: str,
        /,
        *,
        component: str | None = None,
        stream: str = "operations",
        quiet: bool = False,
        **fields: Any,
    ) -> None:
        self.name = name
        self._quiet = quiet  # no started/finished lines: the caller writes its own summary
        self.id = ""
        self.trace_id = ""
        self.span_id = ""
        self._fields = fields
        self._component = component or name.split(".", 1)[0]
        self._stream = stream
        self._log = get_logger(self._component, stream)
        self._token: contextvars.Token[_Operation | None] | None = None
        self._started = 0.0

    def __enter__(self) -> operation:
        if self._token is not None:
            raise RuntimeError(f"operation {self.name!r} is already running; make a new one")
        parent = _OPERATION.get()
        self.id = "op_" + _hex_id(64)
        self.trace_id = parent.trace_id if parent is not None else _hex_id(128)
        self.span_id = _hex_id(64)
        fields: dict[str, Any] = {"operation_id": self.id}
        if parent is not None:
            fields["parent_operation_id"] = parent.id
        fields["trace_id"] = self.trace_id
        fields["span_id"] = self.span_id
        extra = redaction.redact_keys(self._fields)
        if any(isinstance(v, str) and redaction.needs_redaction(v) for v in extra.values()):
            extra = redaction.redact_value(extra)
        for key, value in extra.items():
            fields[key + "_" if key in _RESERVED else key] = value
        self._token = _OPERATION.set(_Operation(self.id, self.trace_id, fields))
        self._started = time.perf_counter()
        if not self._quiet:
            self._log.info("operation started", operation=self.name)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        duration = round(time.perf_counter() - self._started, 6)
        try:
            if self._quiet:
                pass
            elif exc is None:
                self._log.info(
                    "operation finished", operation=self.name, duration_s=duration, outcome="ok"
                )
            else:
                log = self._log.error if isinstance(exc, Exception) else self._log.warning
                log(
                    "operation finished",
                    operation=self.name,
                    duration_s=duration,
                    outcome="error" if isinstance(exc, Exception) else "cancelled",
                    error_type=type(exc).__qualname__,
                )
        finally:
            token, self._token = self._token, None
            if token is not None:
                _OPERATION.reset(token)

    async def __aenter__(self) -> operation:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: F) -> F:
        """Decorate ``fn`` (sync or async): each call runs in a new operation like this one."""
        name, fields = self.name, dict(self._fields)
        component, stream = self._component, self._stream

        if asyncio.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                async with operation(name, component=component, stream=stream, **fields):
                    return await fn(*args, **kwargs)

            return cast(F, run_async)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with operation(name, component=component, stream=stream, **fields):
                return fn(*args, **kwargs)

        return cast(F, run)


def in_thread(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` wrapped to run in a copy of *this* context (operation id and all), wherever
    it is called: ``executor.submit(in_thread(work), item)``."""
    context = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> T:
        # A context can't be entered by two threads at once: each call gets its own copy.
        return context.copy().run(fn, *args, **kwargs)

    return run


def run_in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
    """Start ``fn(*args, **kwargs)`` on a new daemon thread carrying this context; the future
    holds its result or exception."""
    future: Future[T] = Future()
    target = in_thread(fn)

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(target(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=work, name=f"devfactory-{fn.__name__}", daemon=True).start()
    return future


# -- rendering --------------------------------------------------------------------------------

_second: tuple[int, str] = (-1, "")


def _timestamp() -> str:
    """ISO-8601 UTC with microseconds and ``Z``; the date part is formatted once a second."""
    global _second
    ns = time.time_ns()
    seconds = ns // 1_000_000_000
    cached = _second
    if cached[0] != seconds:
        cached = _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{cached[1]}.{ns // 1000 % 1_000_000:06d}Z"


def _default(value: Any) -> Any:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__qualname__}>"


def _jsonable(value: Any) -> Any:
    """A JSON-safe copy, for what orjson refuses (int keys, huge ints, cycles deeper down)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | float | str):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    return _default(value)


def _dumps(record: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(record, default=_default, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        return orjson.dumps(_jsonable(record), option=_OPTIONS)


def _exception_fields(exc_info: Any) -> dict[str, str]:
    """OpenTelemetry ``exception.*`` fields for ``exc_info`` (True, an exception or a tuple)."""
    if exc_info is True:
        exc = sys.exc_info()[1]
    elif isinstance(exc_info, BaseException):
        exc = exc_info
    elif isinstance(exc_info, tuple) and len(exc_info) == 3:
        exc = exc_info[1]
    else:
        exc = None
    if exc is None:
        return {}
    return {
        "exception.type": type(exc).__qualname__,
        "exception.message": str(exc),
        "exception.stacktrace": "".join(traceback.format_exception(exc)),
    }


def _render(_: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
    """The whole processor chain in one step: order, ids, key redaction, JSON, value
    redaction. Returns ``((line, record, stream, level), {})`` for :class:`_Output`."""
    level = _LEVEL_OF[method_name]
    stream = event_dict.pop(_STREAM_KEY)
    event = event_dict.pop("event", None)
    record = {
        "timestamp": _timestamp(),
        "level": level,
        "stream": stream,
        "component": event_dict.pop(_COMPONENT_KEY),
        "event": event,
    }
    op = _OPERATION.get()
    if op is not None:
        record.update(op.fields)
    # Strings are checked for redaction triggers in one go; ``rescan`` marks values whose text
    # is only known once rendered (objects, containers, exceptions): then the line is checked.
    texts = [event] if type(event) is str else []
    rescan = not texts
    if event_dict:
        exc_info = event_dict.pop("exc_info", None)
        for key, value in event_dict.items():
            if key in record:
                key += "_"
            if redaction.is_sensitive_key(key):
                record[key] = redaction.REDACTED
                continue
            kind = type(value)
            if kind is str:
                texts.append(value)
            elif kind is dict or kind is list or kind is tuple:
                value = redaction.redact_keys(value)
                rescan = True
            elif not (kind is int or kind is float or kind is bool or value is None):
                rescan = True
            record[key] = value
        if exc_info:
            record.update(_exception_fields(exc_info))
            rescan = True
    line = _dumps(record)
    needs = redaction.needs_redaction
    if needs("\x00".join(texts)) or (rescan and needs(line.decode())):
        record = redaction.redact_value(orjson.loads(line))
        line = _dumps(record)
    return (line, record, stream, level), {}


class _Output:
    """The wrapped logger: counts each line and hands it to every sink (and to ``errors``)."""

    def write(self, line: bytes, record: dict[str, Any], stream: str, level: str) -> None:
        """Count ``line`` and give it to the sinks; errors also go to the errors stream."""
        _count(stream, level)
        sinks = _sinks
        for sink in sinks:
            try:
                sink.emit(stream, line, record)
            except Exception:
                LOG_DROPPED.labels(type(sink).__name__).inc()
        if (level == "error" or level == "critical") and stream != "errors":
            copy = {
                "timestamp": record["timestamp"],
                "level": level,
                "stream": "errors",
                "source_stream": stream,
            }
            copy.update((k, v) for k, v in record.items() if k not in copy)
            self.write(_dumps(copy), copy, "errors", level)

    debug = info = warning = error = exception = critical = write


_OUTPUT = _Output()
_PROCESSORS: list[Any] = [_render]


class BoundLogger(BoundLoggerBase):
    """A logger for one component and stream (from :func:`get_logger`).

    ``log.info("event", key=value)``; ``bind(**fields)`` returns a logger adding ``fields`` to
    every line; ``exception(...)`` logs at error with the current exception's
    ``exception.type``/``exception.message``/``exception.stacktrace``. A call below the
    configured level returns at once.
    """

    def debug(self, event: str, *args: Any, **kw: Any) -> None:
        """Log at debug (``event % args`` if args are given)."""
        if _min_level <= 10:
            self._proxy_to_logger("debug", event % args if args else event, **kw)

    def info(self, event: str, *args: Any, **kw: Any) -> None:
        """Log at info."""
        if _min_level <= 20:
            self._proxy_to_logger("info", event % args if args else event, **kw)

    def warning(self, event: str, *args: Any, **kw: Any) -> None:
        """Log at warning."""
        if _min_level <= 30:
            self._proxy_to_logger("warning", event % args if args else event, **kw)

    def error(self, event: str, *args: Any, **kw: Any) -> None:
        """Log at error (also written to the errors stream)."""
        if _min_level <= 40:
            self._proxy_to_logger("error", event % args if args else event, **kw)

    def exception(self, event: str, *args: Any, **kw: Any) -> None:
        """Log at error with the exception being handled (``exc_info`` defaults to True)."""
        if _min_level <= 40:
            kw.setdefault("exc_info", True)
            self._proxy_to_logger("exception", event % args if args else event, **kw)

    def critical(self, event: str, *args: Any, **kw: Any) -> None:
        """Log at critical (also written to the errors stream)."""
        if _min_level <= 50:
            self._proxy_to_logger("critical", event % args if args else event, **kw)


def get_logger(component: str, stream: str = "operations") -> BoundLogger:
    """A logger whose lines carry ``component`` and go to ``stream`` (one of :data:`STREAMS`).

    Safe at import time: it writes nothing until :func:`configure`, then follows the current
    configuration.
    """
    if stream not in STREAMS:
        raise ValueError(f"unknown log stream {stream!r}; streams are {', '.join(STREAMS)}")
    return BoundLogger(_OUTPUT, _PROCESSORS, {_STREAM_KEY: stream, _COMPONENT_KEY: component})


# -- sinks --------------------------------------------------------------------------------------


class MemorySink:
    """Keeps every line in memory, for tests: ``lines(stream)``, ``records(stream)``."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, bytes, dict[str, Any]]] = []
        self.closed = False

    def emit(self, stream: str, line: bytes, record: Mapping[str, Any]) -> None:
        """Keep the line and a copy of its record."""
        self.entries.append((stream, line, dict(record)))

    def lines(self, stream: str | None = None) -> list[bytes]:
        """The lines written, of one stream or all."""
        return [line for s, line, _ in self.entries if stream is None or s == stream]

    def records(self, stream: str | None = None) -> list[dict[str, Any]]:
        """The lines written, parsed back from JSON (what a reader of the file sees)."""
        return [orjson.loads(line) for line in self.lines(stream)]

    def flush(self) -> None:
        """Nothing is buffered."""

    def close(self) -> None:
        """Mark closed (the lines stay readable)."""
        self.closed = True


class ConsoleSink:
    """Writes each line to stderr at once (JSON, for ``DEVFACTORY_LOG_CONSOLE=1``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def emit(self, stream: str, line: bytes, record: Mapping[str, Any]) -> None:
        """Write and flush the line (stderr is looked up each time, so capture works)."""
        err = sys.stderr
        with self._lock:
            buffer = getattr(err, "buffer", None)
            if buffer is not None:
                buffer.write(line)
            else:
                err.write(line.decode())
            err.flush()

    def flush(self) -> None:
        """Nothing is buffered."""

    def close(self) -> None:
        """Nothing to release."""


class _RotatingFile:
    """One ``<stream>.jsonl`` with size-based rotation to ``.1`` … ``.<backups>``."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._open()

    def _open(self) -> None:
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self.size = os.fstat(self.fd).st_size

    def write(self, lines: list[bytes]) -> None:
        total = sum(map(len, lines))
        if self.size + total <= self.max_bytes:
            self._write(b"".join(lines), total)
            return
        chunk: list[bytes] = []
        size = 0
        for line in lines:  # split at line boundaries so no file exceeds max_bytes
            if self.size + size + len(line) > self.max_bytes and (self.size or size):
                self._write(b"".join(chunk), size)
                self.rotate()
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        self._write(b"".join(chunk), size)

    def _write(self, data: bytes, size: int) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        self.size += size

    def rotate(self) -> None:
        """Shift ``.1`` → ``.2`` … (dropping the oldest), move the file to ``.1``, reopen."""
        os.close(self.fd)
        if self.backups > 0:
            for i in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{i}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._open()

    def close(self) -> None:
        os.close(self.fd)


class FileSink:
    """``<logs_dir>/<stream>.jsonl`` per stream, rotated at ``max_bytes`` keeping ``backups``.

    ``emit`` only appends to an in-memory buffer; a background thread writes it out every
    ``flush_interval`` seconds (so ``tail -f`` sees lines within half a second), and so does
    an ``emit`` that finds ``flush_lines`` lines waiting, ``flush()`` and ``close()``.
    Thread-safe; meant for one writing process per directory (rotation is not coordinated
    between processes).
    """

    def __init__(
        self,
        logs_dir: Path,
        max_bytes: int = 10_000_000,
        backups: int = 5,
        *,
        flush_interval: float = 0.5,
        flush_lines: int = 2000,
    ) -> None:
        self.logs_dir = Path(logs_dir)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.backups = backups
        self._flush_lines = flush_lines
        # One deque per stream: append and popleft are atomic, so emit takes no lock.
        self._queues: dict[str, deque[bytes]] = {}
        self._write_lock = threading.Lock()  # one writer of the files at a time
        self._files: dict[str, _RotatingFile] = {}
        self._closed = False
        self._stop = threading.Event()
        self._interval = flush_interval
        self._thread = threading.Thread(
            target=self._flush_periodically, name="devfactory-log-flush", daemon=True
        )
        self._thread.start()

    def emit(self, stream: str, line: bytes, record: Mapping[str, Any]) -> None:
        """Buffer the line (dropped, and counted, after close)."""
        if self._closed:
            LOG_DROPPED.labels("FileSink").inc()
            return
        queue = self._queues.get(stream)
        if queue is None:
            queue = self._queues.setdefault(stream, deque())
        queue.append(line)
        if len(queue) >= self._flush_lines:
            self.flush()

    def flush(self) -> None:
        """Write every buffered line to its file (rotating as needed)."""
        with self._write_lock:
            for stream, queue in list(self._queues.items()):
                if not queue:
                    continue
                popleft = queue.popleft
                lines = [popleft() for _ in range(len(queue))]
                try:
                    target = self._files.get(stream)
                    if target is None:
                        path = self.logs_dir / f"{stream}.jsonl"
                        target = self._files[stream] = _RotatingFile(
                            path, self.max_bytes, self.backups
                        )
                    target.write(lines)
                except OSError:
                    LOG_DROPPED.labels("FileSink").inc(len(lines))

    def _flush_periodically(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def close(self) -> None:
        """Stop the flusher, write what is buffered and close the files."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()
        with self._write_lock:
            for target in self._files.values():
                target.close()
            self._files.clear()


# -- configuration ------------------------------------------------------------------------------


def configure(
    *,
    logs_dir: Path | None,
    level: str = "info",
    sinks: Sequence[Sink] = (),
    redact: Sequence[str] = (),
    console: bool = False,
) -> None:
    """Install the sinks and level for every logger, now and later made.

    ``logs_dir`` adds a :class:`FileSink`, ``console`` a :class:`ConsoleSink`, ``sinks`` any
    others (e.g. the log store). ``redact`` replaces the extra redaction regexes. Calling it
    again replaces the previous configuration and flushes and closes the sinks it no longer
    uses. An unknown level is a ``ValueError``; a bad regex a ``ConfigError``.
    """
    global _sinks, _min_level, _atexit_registered
    threshold = LEVELS.get(level.lower())
    if threshold is None:
        raise ValueError(f"unknown log level {level!r}; levels are {', '.join(LEVELS)}")
    redaction.set_patterns(redact)
    new: list[Sink] = []
    if logs_dir is not None:
        new.append(FileSink(logs_dir))
    if console:
        new.append(ConsoleSink())
    new.extend(sinks)
    with _configure_lock:
        old, _sinks = _sinks, tuple(new)
        _min_level = threshold if new else _OFF
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
    _close(s for s in old if not any(s is n for n in new))


def _close(sinks: Any) -> None:
    for sink in sinks:
        try:
            sink.flush()
            sink.close()
        except Exception:
            LOG_DROPPED.labels(type(sink).__name__).inc()


def configure_from_settings(settings: Settings, *, extra_sinks: Sequence[Sink] = ()) -> None:
    """:func:`configure` from :class:`~devfactory.config.Settings`: logs in
    ``settings.logs_dir``, its level, console flag and extra regexes, and every secret
    setting (tokens, keys, and the password inside a database or Redis URL) registered for
    redaction."""
    for _, value in settings:
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            redaction.register_secret(secret)
            if "://" in secret:
                try:
                    password = urlsplit(secret).password
                except ValueError:
                    password = None
                if password:
                    redaction.register_secret(password)
    configure(
        logs_dir=settings.logs_dir,
        level=settings.log_level,
        sinks=extra_sinks,
        redact=settings.redact,
        console=settings.log_console,
    )


def shutdown() -> None:
    """Flush and close every sink; loggers write nothing afterwards (until configure)."""
    global _sinks, _min_level
    with _configure_lock:
        old, _sinks, _min_level = _sinks, (), _OFF
    _close(old)
