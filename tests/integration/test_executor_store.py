"""The task registry on both store engines (SQLite file and PostgreSQL), fed by the executor."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from notion_client.errors import HTTPResponseError

from devfactory.db import Database
from devfactory.errors import ObjectNotFoundError
from devfactory.executor import Executor, Idempotency, ManualClock, Task, TaskRegistry
from devfactory.obs.log import operation


@pytest.fixture
def db(store_url: str) -> Iterator[Database]:
    """The store database of this test, on each engine."""
    with Database(store_url) as database:
        yield database


def failing(status: int, code: str, times: int) -> Any:
    """A call that fails ``times`` times with a Notion error answer, then answers a page."""
    left = [times]

    async def call() -> dict[str, str]:
        if left[0]:
            left[0] -= 1
            raise HTTPResponseError(
                code, status, "Bearer ntn_abcdefghijklmnopqrstuvwxyz0123 was refused",
                httpx.Headers(), "{}",
            )  # fmt: skip
        return {"id": "page"}

    return call


def test_executor_records_every_call_with_its_outcome(db: Database) -> None:
    """Succeeded, retried and failed calls each become one task with attempts, timings and
    the operation id; a failure's error names its class without the token."""
    registry = TaskRegistry(db)
    executor = Executor(clock=ManualClock(), rng=lambda: 0.5, registry=registry)

    async def work() -> str | None:
        with operation("test.tasks") as op:
            await executor.run(
                failing(500, "internal_server_error", 0),
                idempotency=Idempotency.SAFE,
                label="read once",
            )
            await executor.run(
                failing(500, "internal_server_error", 2),
                idempotency=Idempotency.IDEMPOTENT,
                label="update twice failed",
            )
            with pytest.raises(ObjectNotFoundError):
                await executor.run(
                    failing(404, "object_not_found", 1),
                    idempotency=Idempotency.SAFE,
                    label="read missing",
                )
            return op.id

    operation_id = asyncio.run(work())
    tasks = {t.label: t for t in registry.list()}
    assert {"read once", "update twice failed", "read missing"} == set(tasks)
    once, retried, missing = (
        tasks["read once"],
        tasks["update twice failed"],
        tasks["read missing"],
    )
    assert ("succeeded", 1, None) == (once.status, once.attempts, once.error)
    assert ("succeeded", 3) == (retried.status, retried.attempts)
    assert 0.15 == pytest.approx(retried.duration_s)  # waits 0.05 + 0.1 on the manual clock
    assert ("failed", 1) == (missing.status, missing.attempts)
    assert missing.error is not None and missing.error.startswith("ObjectNotFoundError: ")
    assert "ntn_" not in missing.error
    assert operation_id is not None
    assert {operation_id} == {t.operation_id for t in tasks.values()}
    assert all(t.kind == "notion" and t.finished_at and t.started_at for t in tasks.values())
    assert {"queued": 0, "running": 0, "succeeded": 2, "failed": 1} == registry.counts()


def test_a_retrying_call_shows_as_running_while_it_waits(db: Database) -> None:
    """The first retry writes the task as running at once; finishing updates that row."""
    registry = TaskRegistry(db)
    seen: list[list[str]] = []

    class Watching(ManualClock):
        async def sleep(self, seconds: float) -> None:
            seen.append([t.status for t in TaskRegistry(db).list()])
            await super().sleep(seconds)

    executor = Executor(clock=Watching(), registry=registry)
    asyncio.run(
        executor.run(
            failing(503, "service_unavailable", 1), idempotency=Idempotency.SAFE, label="slow"
        )
    )
    assert [["running"]] == seen
    [task] = registry.list()
    assert ("succeeded", 2) == (task.status, task.attempts)


def test_list_filters_by_status_limits_and_gets_by_id(db: Database) -> None:
    """list(status, limit) returns the latest first; get() finds one task or None."""
    registry = TaskRegistry(db)
    for n in range(5):
        status = "failed" if n % 2 else "succeeded"
        registry.finished(Task(f"t{n}", f"call {n}", "tool", status, 1, started_at=1000.0 + n))
    registry.flush()
    assert ["t4", "t3", "t2"] == [t.id for t in registry.list(limit=3)]
    assert ["t3", "t1"] == [t.id for t in registry.list(status="failed")]
    found = registry.get("t2")
    assert found is not None and ("call 2", "tool") == (found.label, found.kind)
    assert registry.get("nope") is None


def test_finished_tasks_are_written_in_batches(db: Database) -> None:
    """Successes wait in a buffer (cheap for an apply); reads and close() write them."""
    registry = TaskRegistry(db, wall=lambda: 0.0)  # time stands still: no timed flush
    registry.finished(Task("a", "quick", "notion", "succeeded", 1, started_at=1.0))
    assert [] == db.execute("SELECT id FROM tasks")
    registry.close()
    assert [("a",)] == db.execute("SELECT id FROM tasks")


def test_schema_is_created_once_and_reopened(store_url: str) -> None:
    """A second registry on the same store sees the first one's tasks."""
    with Database(store_url) as first:
        TaskRegistry(first).finished(Task("x", "l", "notion", "failed", 2, error="E: m"))
    with Database(store_url) as second:
        task = TaskRegistry(second).get("x")
    assert task is not None and ("failed", 2, "E: m") == (task.status, task.attempts, task.error)


def test_a_broken_registry_does_not_break_the_call(db: Database) -> None:
    """When the store cannot be written the call's own outcome still stands."""
    registry = TaskRegistry(db)
    db.close()
    executor = Executor(clock=ManualClock(), registry=registry)
    answer = asyncio.run(
        executor.run(
            failing(500, "internal_server_error", 1), idempotency=Idempotency.SAFE, label="read"
        )
    )
    assert {"id": "page"} == answer and 1 == executor.retries
