"""The store seam runs the same SQL on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from devfactory.db import Database, redact_url
from devfactory.errors import ConfigError


def test_same_calls_on_both_engines(store_url: str) -> None:
    """Placeholders, executemany, transactions and rollback behave alike on both engines."""
    with Database(store_url) as db:
        db.script("CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
        db.executemany("INSERT INTO kv (k, v) VALUES (?, ?)", [("a", 1), ("b", 2)])
        with db.transaction():
            db.execute("UPDATE kv SET v = v + ? WHERE k = ?", (10, "a"))
        with pytest.raises(RuntimeError), db.transaction():
            db.execute("UPDATE kv SET v = 0")
            raise RuntimeError("roll back")
        assert db.execute("SELECT k, v FROM kv ORDER BY k") == [("a", 11), ("b", 2)]


def test_bad_urls_are_config_errors(tmp_path: object) -> None:
    """A wrong scheme or an unreachable server is a clear ConfigError, password hidden."""
    with pytest.raises(ConfigError, match="unknown scheme"):
        Database("mysql://x")
    with pytest.raises(ConfigError, match=r"\*\*\*") as info:
        Database("postgresql://u:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(info.value)
    assert redact_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
