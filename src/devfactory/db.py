"""One small seam over the store database: SQLite (the default) or PostgreSQL.

The log store, the task registry and the approvals all live in one database chosen by
``DEVFACTORY_DATABASE_URL`` (``sqlite:///path``, ``sqlite:///:memory:`` or
``postgresql://user@host:5432/db``). :class:`Database` gives them one connection each with
the same calls on both engines, so their SQL is written once: placeholders are ``?`` (turned
into ``%s`` for PostgreSQL; keep literal ``?`` and ``%`` out of SQL text and pass them as
parameters). Where the dialects differ (full-text search, upserts), callers branch on
:attr:`Database.dialect`.

One connection per object, guarded by a lock, so a writer thread and readers can share it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from devfactory.errors import ConfigError

__all__ = ["Database", "Dialect", "redact_url"]

Dialect = Literal["sqlite", "postgresql"]
Params = Sequence[Any] | Mapping[str, Any]


def redact_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


class Database:
    """A connection to the store with one calling convention for both engines."""

    def __init__(self, url: str) -> None:
        scheme = url.split(":", 1)[0].lower()
        self.url = url
        self._lock = threading.RLock()
        self.dialect: Dialect
        if scheme == "sqlite":
            path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
            if not path:
                raise ConfigError(f"DEVFACTORY_DATABASE_URL: want sqlite:///PATH, got {url!r}")
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            self._sqlite: sqlite3.Connection | None = conn
            self._pg: Any = None
            self.dialect = "sqlite"
        elif scheme in ("postgresql", "postgres"):
            import psycopg

            try:
                self._pg = psycopg.connect(url, autocommit=True, connect_timeout=5)
            except psycopg.OperationalError as exc:
                raise ConfigError(
                    f"cannot reach the database {redact_url(url)}: {str(exc).strip()}"
                ) from exc
            self._sqlite = None
            self.dialect = "postgresql"
        else:
            raise ConfigError(
                f"DEVFACTORY_DATABASE_URL: unknown scheme {scheme!r} (want sqlite or postgresql)"
            )
        self._depth = 0

    def _sql(self, sql: str) -> str:
        return sql if self.dialect == "sqlite" else sql.replace("?", "%s")

    def execute(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """Run one statement; the rows it returns (empty for writes)."""
        with self._lock:
            if self._sqlite is not None:
                cur = self._sqlite.execute(sql, params)
                return cur.fetchall()
            with self._pg.cursor() as cur:
                cur.execute(self._sql(sql), params or None)
                return list(cur.fetchall()) if cur.description is not None else []

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement for each parameter row."""
        if not rows:
            return
        with self._lock:
            if self._sqlite is not None:
                self._sqlite.executemany(sql, rows)
                return
            with self._pg.cursor() as cur:
                cur.executemany(self._sql(sql), rows)

    def script(self, sql: str) -> None:
        """Run several statements separated by ``;`` (schema set-up; no parameters)."""
        with self._lock:
            if self._sqlite is not None:
                self._sqlite.executescript(sql)
                return
            with self._pg.cursor() as cur:
                cur.execute(sql)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All statements inside commit together or not at all (nests: inner ones join)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            try:
                if self._sqlite is not None:
                    self._sqlite.execute("BEGIN IMMEDIATE")
                    try:
                        yield
                    except BaseException:
                        self._sqlite.execute("ROLLBACK")
                        raise
                    self._sqlite.execute("COMMIT")
                else:
                    with self._pg.transaction():
                        yield
            finally:
                self._depth = 0

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if self._sqlite is not None:
                self._sqlite.close()
                self._sqlite = None
            elif self._pg is not None:
                self._pg.close()
                self._pg = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({redact_url(self.url)!r})"
