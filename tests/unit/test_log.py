"""Structured logs: line shape, levels, streams, operation ids across tasks and threads, the
errors stream, sinks and the line counter."""

from __future__ import annotations

import asyncio
import re
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devfactory.config import Settings
from devfactory.obs import log
from devfactory.obs.metrics import REGISTRY
from devfactory.obs.redact import REDACTED, reset

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


@pytest.fixture(autouse=True)
def memory() -> Iterator[log.MemorySink]:
    """Every test logs into a fresh MemorySink at debug; shut down and reset afterwards."""
    sink = log.MemorySink()
    log.configure(logs_dir=None, level="debug", sinks=[sink])
    yield sink
    log.shutdown()
    reset()


def test_line_shape_and_key_order(memory: log.MemorySink) -> None:
    """One JSON object per line, fixed keys first, then the call's fields."""
    log.get_logger("deploy").info("planned", steps=3, ok=True)
    [line] = memory.lines()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    [record] = memory.records()
    assert ["timestamp", "level", "stream", "component", "event", "steps", "ok"] == list(record)
    assert ("info", "operations", "deploy", "planned", 3) == (
        record["level"],
        record["stream"],
        record["component"],
        record["event"],
        record["steps"],
    )


def test_timestamp_is_iso_utc_with_microseconds_and_z(memory: log.MemorySink) -> None:
    """timestamp looks like 2026-01-02T03:04:05.123456Z and is now."""
    log.get_logger("t").info("x")
    stamp = memory.records()[0]["timestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - when) < timedelta(seconds=5)


def test_clashing_field_names_get_a_suffix(memory: log.MemorySink) -> None:
    """A field named like a fixed key cannot overwrite it."""
    log.get_logger("t").info("x", level="fake", stream="gate")
    record = memory.records()[0]
    assert ("info", "operations", "fake", "gate") == (
        record["level"],
        record["stream"],
        record["level_"],
        record["stream_"],
    )


def test_level_filtering(memory: log.MemorySink) -> None:
    """Calls below the configured level write nothing; the level applies to old loggers too."""
    logger = log.get_logger("t")
    log.configure(logs_dir=None, level="warning", sinks=[memory])
    logger.debug("d")
    logger.info("i")
    logger.warning("w")
    logger.error("e")
    assert ["w", "e"] == [r["event"] for r in memory.records("operations")]


def test_unknown_level_and_stream_are_refused() -> None:
    """A typo in a stream or level name fails loudly, at get_logger/configure time."""
    with pytest.raises(ValueError, match="stream"):
        log.get_logger("t", "operation")
    with pytest.raises(ValueError, match="level"):
        log.configure(logs_dir=None, level="verbose")


def test_before_configure_nothing_is_written(memory: log.MemorySink) -> None:
    """Unconfigured loggers are silent; configuring later makes the same logger write."""
    logger = log.get_logger("early")
    log.shutdown()
    logger.error("lost")
    assert [] == memory.lines()
    assert memory.closed
    again = log.MemorySink()
    log.configure(logs_dir=None, sinks=[again])
    logger.info("kept", n=1)
    assert ["kept"] == [r["event"] for r in again.records()]


def test_reconfigure_closes_only_replaced_sinks(memory: log.MemorySink) -> None:
    """configure() again closes the sinks it drops and keeps one passed again."""
    other = log.MemorySink()
    log.configure(logs_dir=None, sinks=[memory, other])
    log.configure(logs_dir=None, sinks=[memory])
    assert other.closed and not memory.closed


def test_positional_arguments_are_interpolated(memory: log.MemorySink) -> None:
    """log.info("%s items", 3) formats like the stdlib does."""
    log.get_logger("t").info("%s items", 3)
    assert "3 items" == memory.records()[0]["event"]


def test_operation_binds_ids_and_logs_start_and_finish(memory: log.MemorySink) -> None:
    """Inside an operation every line has its id and trace context; start and finish lines
    frame it; afterwards the ids are gone."""
    logger = log.get_logger("deploy")
    with log.operation("deploy.apply", workspace="consulting") as op:
        assert op.id == log.current_operation_id()
        logger.info("inside")
    logger.info("after")
    started, inside, finished, after = memory.records()
    assert re.fullmatch(r"op_[0-9a-f]{16}", op.id)
    for record in (started, inside, finished):
        assert op.id == record["operation_id"]
        assert HEX32.match(record["trace_id"]) and HEX16.match(record["span_id"])
        assert "consulting" == record["workspace"]
        assert "parent_operation_id" not in record
    assert ("operation started", "deploy.apply", "deploy") == (
        started["event"],
        started["operation"],
        started["component"],
    )
    assert "ok" == finished["outcome"] and finished["duration_s"] >= 0
    assert "operation_id" not in after and "trace_id" not in after
    assert log.current_operation_id() is None


def test_nested_operation_keeps_trace_and_gets_new_span(memory: log.MemorySink) -> None:
    """A nested operation names its parent, shares the trace id, has its own span id, and the
    outer operation is restored when it ends."""
    logger = log.get_logger("t")
    with log.operation("outer") as outer:
        with log.operation("inner") as inner:
            logger.info("in inner")
        logger.info("back in outer")
    records = {r["event"]: r for r in memory.records() if r["event"].startswith(("in ", "back"))}
    deep, back = records["in inner"], records["back in outer"]
    assert (inner.id, outer.id) == (deep["operation_id"], deep["parent_operation_id"])
    assert outer.trace_id == inner.trace_id == deep["trace_id"]
    assert inner.span_id != outer.span_id
    assert (outer.id, outer.span_id) == (back["operation_id"], back["span_id"])


def test_failed_operation_logs_error_type_only(memory: log.MemorySink) -> None:
    """A failing operation finishes with outcome error and the exception type, never its
    message; the error also lands in the errors stream."""
    with pytest.raises(KeyError), log.operation("sync"):
        raise KeyError("private detail")
    finished = memory.records("operations")[-1]
    assert ("error", "error", "KeyError") == (
        finished["level"],
        finished["outcome"],
        finished["error_type"],
    )
    assert b"private detail" not in b"".join(memory.lines())
    [teed] = memory.records("errors")
    assert "operations" == teed["source_stream"]


def test_operation_decorator_makes_one_operation_per_call(memory: log.MemorySink) -> None:
    """@operation works on sync and async functions, a new id for each call."""

    @log.operation("work.sync")
    def work() -> str | None:
        return log.current_operation_id()

    @log.operation("work.async")
    async def awork() -> str | None:
        return log.current_operation_id()

    ids = [work(), work(), asyncio.run(awork())]
    assert None not in ids and len(set(ids)) == 3


def test_asyncio_tasks_keep_their_own_operation(memory: log.MemorySink) -> None:
    """Concurrent tasks, each in a nested operation, log with their own ids while they
    interleave; all share the outer trace."""
    logger = log.get_logger("t")

    async def task(n: int) -> str:
        with log.operation("task", n=n) as op:
            for step in range(3):
                await asyncio.sleep(0)
                logger.info("step", n=n, step=step)
            return op.id

    async def main() -> tuple[str, list[str]]:
        with log.operation("batch") as outer:
            ids = await asyncio.gather(*(asyncio.create_task(task(n)) for n in range(4)))
        return outer.id, list(ids)

    outer_id, ids = asyncio.run(main())
    steps = [r for r in memory.records() if r["event"] == "step"]
    assert 12 == len(steps)
    for record in steps:
        assert ids[record["n"]] == record["operation_id"]
        assert outer_id == record["parent_operation_id"]
    assert 1 == len({r["trace_id"] for r in memory.records()})


def test_threads_keep_the_operation_with_in_thread(memory: log.MemorySink) -> None:
    """A pool thread sees the submitting operation through in_thread, and not without it."""
    logger = log.get_logger("t")

    def work(n: int) -> str | None:
        logger.info("in thread", n=n)
        return log.current_operation_id()

    with log.operation("pool") as op, ThreadPoolExecutor(max_workers=3) as pool:
        wrapped = log.in_thread(work)
        seen = list(pool.map(wrapped, range(6)))
        bare = pool.submit(work, 99).result()
    assert [op.id] * 6 == seen
    assert bare is None
    in_op = [r for r in memory.records() if r["event"] == "in thread" and r["n"] < 99]
    assert {op.id} == {r["operation_id"] for r in in_op}


def test_to_thread_and_run_in_thread_keep_the_operation() -> None:
    """asyncio.to_thread copies the context itself; run_in_thread does for a new thread."""

    async def main() -> tuple[str, str | None]:
        async with log.operation("async op") as op:
            return op.id, await asyncio.to_thread(log.current_operation_id)

    op_id, seen = asyncio.run(main())
    assert op_id == seen
    with log.operation("threaded") as op:
        future = log.run_in_thread(log.current_operation_id)
    assert op.id == future.result(timeout=10)
    failing = log.run_in_thread(int, "not a number")
    with pytest.raises(ValueError):
        failing.result(timeout=10)


def test_errors_are_teed_to_the_errors_stream(memory: log.MemorySink) -> None:
    """error and critical lines also go to errors (with source_stream); warnings and lines
    logged to errors directly are written once."""
    audit = log.get_logger("gate", "audit")
    audit.warning("w")
    audit.error("denied", tool="notion.delete")
    audit.critical("on fire")
    log.get_logger("x", "errors").error("direct")
    assert ["w", "denied", "on fire"] == [r["event"] for r in memory.records("audit")]
    errors = memory.records("errors")
    assert ["denied", "on fire", "direct"] == [r["event"] for r in errors]
    original = memory.records("audit")[1]
    assert ["audit", "audit", None] == [r.get("source_stream") for r in errors]
    assert {k: v for k, v in errors[0].items() if k not in ("stream", "source_stream")} == {
        k: v for k, v in original.items() if k != "stream"
    }


def test_exception_fields(memory: log.MemorySink) -> None:
    """log.exception adds OpenTelemetry exception.type, .message and .stacktrace."""
    try:
        raise LookupError("no such page")
    except LookupError:
        log.get_logger("t").exception("lookup failed")
    record = memory.records("operations")[0]
    assert ("error", "LookupError", "no such page") == (
        record["level"],
        record["exception.type"],
        record["exception.message"],
    )
    assert "Traceback" in record["exception.stacktrace"]


def test_log_lines_counter_counts_written_lines(memory: log.MemorySink) -> None:
    """Every written line increments devfactory_log_lines_total{stream,level}; a filtered
    call does not; a teed error counts in both streams."""

    def value(stream: str, level: str) -> float:
        labels = {"stream": stream, "level": level}
        return REGISTRY.get_sample_value("devfactory_log_lines_total", labels) or 0.0

    before = (value("gate", "info"), value("gate", "error"), value("errors", "error"))
    gate = log.get_logger("g", "gate")
    gate.info("a")
    gate.info("b")
    gate.error("c")
    log.configure(logs_dir=None, level="error", sinks=[memory])
    gate.info("filtered")
    after = (value("gate", "info"), value("gate", "error"), value("errors", "error"))
    assert (2.0, 1.0, 1.0) == tuple(a - b for a, b in zip(after, before, strict=True))


def test_file_sink_writes_one_file_per_stream(tmp_path: Path) -> None:
    """configure(logs_dir=...) writes <stream>.jsonl files; shutdown flushes them."""
    log.configure(logs_dir=tmp_path, level="info")
    log.get_logger("a").info("one")
    log.get_logger("b", "gate").info("two")
    log.shutdown()
    assert b'"event":"one"' in (tmp_path / "operations.jsonl").read_bytes()
    assert b'"event":"two"' in (tmp_path / "gate.jsonl").read_bytes()


def lines_of(tmp_path: Path, name: str, backups: int) -> list[bytes]:
    """All lines of a rotated stream, oldest file first."""
    files = [tmp_path / f"{name}.{i}" for i in range(backups, 0, -1)] + [tmp_path / name]
    return [line for f in files if f.exists() for line in f.read_bytes().splitlines()]


def test_file_sink_rotation_keeps_backups_and_loses_no_line(tmp_path: Path) -> None:
    """Below the cap (max_bytes x (backups + 1)) every line survives rotation, in order, and
    no file exceeds max_bytes."""
    sink = log.FileSink(tmp_path, max_bytes=1000, backups=3)
    lines = [b'{"n":%03d,"pad":"%s"}\n' % (n, b"x" * 40) for n in range(60)]  # 60 x 57 bytes
    for n, line in enumerate(lines):
        sink.emit("audit", line, {})
        if n % 7 == 0:
            sink.flush()
    sink.close()
    assert lines == [line + b"\n" for line in lines_of(tmp_path, "audit.jsonl", 3)]
    files = list(tmp_path.iterdir())
    assert {"audit.jsonl", "audit.jsonl.1", "audit.jsonl.2", "audit.jsonl.3"} == {
        f.name for f in files
    }
    assert all(f.stat().st_size <= 1000 for f in files)


def test_file_sink_drops_oldest_beyond_backups(tmp_path: Path) -> None:
    """Past the cap the oldest lines go, never more than `backups` rotated files."""
    sink = log.FileSink(tmp_path, max_bytes=200, backups=2)
    for n in range(100):
        sink.emit("gate", b'{"n":%03d}\n' % n, {})
    sink.close()
    kept = lines_of(tmp_path, "gate.jsonl", 2)
    assert b'{"n":099}' == kept[-1]
    assert len(kept) < 100
    assert kept == [b'{"n":%03d}' % n for n in range(100 - len(kept), 100)]
    assert not (tmp_path / "gate.jsonl.3").exists()


def test_file_sink_writes_after_flush_lines_without_flush(tmp_path: Path) -> None:
    """A full buffer is written at once, so tail -f sees lines without waiting for close."""
    sink = log.FileSink(tmp_path, flush_lines=10, flush_interval=3600)
    for n in range(10):
        sink.emit("operations", b"%d\n" % n, {})
    assert 10 == len((tmp_path / "operations.jsonl").read_bytes().splitlines())
    sink.close()


def test_file_sink_is_thread_safe(tmp_path: Path) -> None:
    """Lines from several threads are all written, each whole."""
    sink = log.FileSink(tmp_path, flush_lines=64)

    def write(t: int) -> None:
        for n in range(500):
            sink.emit("operations", b"%d-%d\n" % (t, n), {})

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sink.close()
    written = (tmp_path / "operations.jsonl").read_bytes().splitlines()
    assert {b"%d-%d" % (t, n) for t in range(4) for n in range(500)} == set(written)
    assert 2000 == len(written)


def test_console_sink_writes_json_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """console=True writes each line to stderr."""
    log.configure(logs_dir=None, console=True)
    log.get_logger("cli").info("hello console")
    assert '"event":"hello console"' in capsys.readouterr().err


def test_a_failing_sink_does_not_break_logging(memory: log.MemorySink) -> None:
    """A sink that raises is counted as dropping the line; the other sinks still get it."""

    class Broken:
        def emit(self, stream: str, line: bytes, record: Any) -> None:
            raise OSError("disk full")

        def flush(self) -> None:
            pass

        def close(self) -> None:
            pass

    labels = {"sink": "Broken"}
    before = REGISTRY.get_sample_value("devfactory_log_lines_dropped_total", labels) or 0.0
    log.configure(logs_dir=None, sinks=[Broken(), memory])
    log.get_logger("t").info("still here")
    assert ["still here"] == [r["event"] for r in memory.records()]
    after = REGISTRY.get_sample_value("devfactory_log_lines_dropped_total", labels)
    assert 1.0 == after - before  # type: ignore[operator]


def test_configure_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings give the logs directory, level and extra regexes, and every secret setting
    (including a password inside a database URL) is redacted."""
    for name in ("DEVFACTORY_LOG_LEVEL", "DEVFACTORY_LOG_CONSOLE", "DEVFACTORY_REDACT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEVFACTORY_HOME", str(tmp_path))
    monkeypatch.setenv("NOTION_TOKEN", "ntn_plain_looking_token")
    monkeypatch.setenv("DEVFACTORY_DATABASE_URL", "postgresql://app:db-pass-42@db/x")
    monkeypatch.setenv("DEVFACTORY_REDACT", '["cust-\\\\d+"]')
    monkeypatch.setenv("DEVFACTORY_LOG_LEVEL", "warning")
    sink = log.MemorySink()
    log.configure_from_settings(Settings(), extra_sinks=[sink])
    logger = log.get_logger("t")
    logger.info("filtered")
    logger.warning("using ntn_plain_looking_token", dsn="db-pass-42", who="cust-77")
    log.shutdown()
    [record] = sink.records()
    assert (f"using {REDACTED}", REDACTED, REDACTED) == (
        record["event"],
        record["dsn"],
        record["who"],
    )
    assert b"db-pass-42" not in (tmp_path / "logs" / "operations.jsonl").read_bytes()


def test_cancelled_operation_is_a_warning(memory: log.MemorySink) -> None:
    """A BaseException that is not an error (cancellation) finishes with outcome cancelled."""
    with pytest.raises(KeyboardInterrupt), log.operation("interrupted"):
        raise KeyboardInterrupt
    finished = memory.records()[-1]
    assert ("warning", "cancelled", "KeyboardInterrupt") == (
        finished["level"],
        finished["outcome"],
        finished["error_type"],
    )
    assert sys.exc_info() == (None, None, None)


def test_quiet_operation_writes_only_its_callers_lines(memory: log.MemorySink) -> None:
    """quiet=True: no started/finished lines, but every line inside carries the id."""
    with log.operation("mcp.call", quiet=True) as op:
        log.get_logger("gateway", stream="audit").info("mcp.call", tool="x")
    records = memory.records()
    assert ["mcp.call"] == [r["event"] for r in records]
    assert op.id == records[0]["operation_id"]
