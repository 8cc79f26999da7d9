"""Shared fixtures: a real local Notion server on loopback, and official clients for it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import notion_client
import pytest

from devfactory.emulator.testing import LocalNotion

TOKEN = "ntn_devfactory_test_token"


@pytest.fixture(scope="session")
def notion() -> Iterator[LocalNotion]:
    """One in-memory local Notion server for the session (tests make their own root pages)."""
    with LocalNotion.start(token=TOKEN) as server:
        yield server


@pytest.fixture
def fresh_notion(tmp_path: Any) -> Iterator[LocalNotion]:
    """A server of its own, on a SQLite file, for tests that change server-wide settings."""
    with LocalNotion.start(path=tmp_path / "notion.db", token=TOKEN) as server:
        yield server


@pytest.fixture(scope="session")
def client(notion: LocalNotion) -> Iterator[notion_client.Client]:
    """The official sync client, unchanged but for base_url."""
    sync = notion_client.Client(auth=notion.token, base_url=notion.base_url, retry=False)
    yield sync
    sync.close()


@pytest.fixture
def root(client: notion_client.Client) -> dict[str, Any]:
    """A fresh workspace-level page to work under."""
    page: dict[str, Any] = client.pages.create(
        parent={"type": "workspace", "workspace": True},
        properties={"title": [{"text": {"content": "test root"}}]},
    )
    return page


def text(value: str) -> list[dict[str, Any]]:
    """A one-item rich text array."""
    return [{"text": {"content": value}}]


# --- PostgreSQL and Redis on their standard ports --------------------------------------------
# The tests for them skip with a visible reason where the server is absent; CI sets
# DEVFACTORY_REQUIRE_SERVICES=1, which turns that skip into a failure.

PG_URL = os.environ.get("DEVFACTORY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("DEVFACTORY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _absent(what: str, error: Exception) -> None:
    reason = f"{what} is not reachable ({type(error).__name__}: {error})"
    if os.environ.get("DEVFACTORY_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; DEVFACTORY_REQUIRE_SERVICES=1 makes it required")
    pytest.skip(reason)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema of its own, dropped afterwards."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _absent(f"PostgreSQL at {PG_URL}", exc)
    with admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            sep = "&" if "?" in PG_URL else "?"
            yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The Redis URL, after checking the server answers."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        _absent(f"Redis at {REDIS_URL}", exc)
    finally:
        client.close()
    yield REDIS_URL


@pytest.fixture
def redis_namespace() -> str:
    """A key prefix of this test's own, so tests sharing one Redis never collide."""
    return f"devfactory-test:{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """The store URL for both engines: a SQLite file, and a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url
