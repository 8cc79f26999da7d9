"""Shared fixtures: a real local Notion server on loopback, and official clients for it."""

from __future__ import annotations

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
