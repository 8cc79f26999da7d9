"""The store: write-through persistence, rollback of failed transactions, tokens at rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from devfactory.emulator.model import Page
from devfactory.emulator.store import Store, hash_token
from devfactory.emulator.workspace import create_integration, ensure_workspace
from devfactory.errors import InternalError, UserError


def test_changes_persist_across_reopen(tmp_path: Path) -> None:
    """Committed records are there after reopening the file."""
    store = Store(tmp_path / "n.db")
    with store.transaction():
        store.add(Page(id="a", properties={"title": []}, seq=1))
    store.close()
    again = Store(tmp_path / "n.db")
    assert isinstance(again.get("a"), Page)
    again.close()


def test_failed_transaction_restores_memory_and_disk(tmp_path: Path) -> None:
    """An exception inside a transaction undoes its changes in memory and on disk."""
    store = Store(tmp_path / "n.db")
    with store.transaction():
        page = store.add(Page(id="a", properties={"title": []}, seq=1))
    with pytest.raises(RuntimeError), store.transaction():
        page.in_trash = True
        store.touch(page)
        store.add(Page(id="b", seq=2))
        raise RuntimeError("boom")
    restored = store.get("a")
    assert isinstance(restored, Page) and restored.in_trash is False
    assert store.get("b") is None
    store.close()


def test_rows_index_follows_parents(tmp_path: Path) -> None:
    """Rows of a data source are indexed in creation order."""
    store = Store(None)
    with store.transaction():
        for i, pid in enumerate(["c", "a", "b"]):
            store.add(Page(id=pid, parent_type="data_source_id", parent_id="ds", seq=i))
    assert ["c", "a", "b"] == list(store.rows_of("ds"))


def test_changes_outside_a_transaction_are_refused() -> None:
    """Writing without a transaction is a programming error, caught loudly."""
    with pytest.raises(InternalError):
        Store(None).add(Page(id="x"))


def test_tokens_are_stored_hashed(tmp_path: Path) -> None:
    """The token never lands in the database file; its hash does."""
    store = Store(tmp_path / "n.db")
    ensure_workspace(store)
    created = create_integration(store, "x", "ntn_secret_token_value")
    store.close()
    data = (
        (tmp_path / "n.db").read_bytes() + (tmp_path / "n.db-wal").read_bytes()
        if (tmp_path / "n.db-wal").exists()
        else (tmp_path / "n.db").read_bytes()
    )
    assert b"ntn_secret_token_value" not in data
    assert hash_token("ntn_secret_token_value") == created.integration.token_hash


def test_integration_names_and_tokens_are_unique() -> None:
    """Two integrations cannot share a name or a token."""
    store = Store(None)
    ensure_workspace(store)
    create_integration(store, "one", "ntn_token_one_xx")
    with pytest.raises(UserError):
        create_integration(store, "one")
    with pytest.raises(UserError):
        create_integration(store, "two", "ntn_token_one_xx")
