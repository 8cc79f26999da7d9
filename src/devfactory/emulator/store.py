"""The local Notion server's storage: SQLite on disk, the working set in memory.

One :class:`Store` owns one SQLite file (or an in-memory database) and is its only writer.
Every record lives in memory while the server runs, so reads and queries never touch disk;
every change is written through before the response leaves, inside one SQLite transaction
per request (see :meth:`Store.transaction`). If a request fails half-way, the records it
touched are reloaded from disk, so memory never holds a change the file does not.

Requests are handled on one event loop and a transaction never awaits, so concurrent
requests are serialised without locks; a re-entrant lock still guards the connection for
callers on other threads (tests, the CLI).
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson

from devfactory.emulator.model import KINDS, Integration, Page, Record, User
from devfactory.errors import InternalError

__all__ = ["Store", "hash_token"]

SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (id TEXT PRIMARY KEY, kind TEXT NOT NULL, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS integrations (
    id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS shares (
    object_id TEXT NOT NULL, integration_id TEXT NOT NULL, PRIMARY KEY (object_id, integration_id));
CREATE TABLE IF NOT EXISTS files (
    upload_id TEXT NOT NULL, part INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (upload_id, part));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

R = TypeVar("R", bound=Record)


def hash_token(token: str) -> str:
    """How tokens are kept at rest: SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


class Store:
    """All records of one local Notion workspace, persisted to SQLite."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = None if path is None or str(path) == ":memory:" else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            str(self.path) if self.path else ":memory:",
            check_same_thread=False,
            isolation_level=None,
        )
        self._conn.execute("PRAGMA busy_timeout = 5000")
        if self.path is not None:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.executescript(_SCHEMA)
        self.records: dict[str, Record] = {}
        self.integrations: dict[str, Integration] = {}
        self.by_token: dict[str, Integration] = {}
        self.shares: set[tuple[str, str]] = set()
        self.rows: dict[str, dict[str, Page]] = {}
        self.meta: dict[str, str] = {}
        self._dirty: dict[str, Record] | None = None
        self._removed: set[str] = set()
        self._pending_sql: list[tuple[str, tuple[Any, ...]]] = []
        self._meta_dirty = False
        self._depth = 0
        self._load()

    # ------------------------------------------------------------------ loading

    def _load(self) -> None:
        with self._lock:
            self.meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
            if "schema_version" not in self.meta:
                self._conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
                )
                self.meta["schema_version"] = SCHEMA_VERSION
            self.records = {}
            for kind, doc in self._conn.execute("SELECT kind, doc FROM objects"):
                cls = KINDS.get(kind)
                if cls is None:
                    raise InternalError(f"unknown record kind {kind!r} in {self.path}")
                record = cls.from_doc(orjson.loads(doc))
                self.records[record.id] = record
            self.integrations = {}
            self.by_token = {}
            for (doc,) in self._conn.execute("SELECT doc FROM integrations"):
                integration = Integration.from_doc(orjson.loads(doc))
                assert isinstance(integration, Integration)
                self._index_integration(integration)
            self.shares = set(self._conn.execute("SELECT object_id, integration_id FROM shares"))
            self._rebuild_rows()

    def _index_integration(self, integration: Integration) -> None:
        self.integrations[integration.id] = integration
        self.by_token[integration.token_hash] = integration

    def _rebuild_rows(self) -> None:
        rows: dict[str, list[Page]] = {}
        for record in self.records.values():
            if (
                isinstance(record, Page)
                and record.parent_type == "data_source_id"
                and record.parent_id
            ):
                rows.setdefault(record.parent_id, []).append(record)
        self.rows = {
            ds_id: {p.id: p for p in sorted(pages, key=lambda p: p.seq)}
            for ds_id, pages in rows.items()
        }

    # ------------------------------------------------------------------ reading

    def get(self, record_id: str) -> Record | None:
        """Any record by id."""
        return self.records.get(record_id)

    def get_as(self, record_id: str, cls: type[R]) -> R | None:
        """A record by id if it is of ``cls``."""
        record = self.records.get(record_id)
        return record if isinstance(record, cls) else None

    def all_of(self, cls: type[R]) -> Iterator[R]:
        """Every record of one kind, in no particular order."""
        for record in self.records.values():
            if isinstance(record, cls):
                yield record

    def rows_of(self, data_source_id: str) -> dict[str, Page]:
        """A data source's rows by id (trashed included), in creation order."""
        return self.rows.get(data_source_id, {})

    def integration_for_token(self, token: str) -> Integration | None:
        """The integration a bearer token belongs to; re-reads the file on a miss so tokens
        created by another process (``devfactory notion token create``) work at once."""
        digest = hash_token(token)
        found = self.by_token.get(digest)
        if found is not None:
            return found
        with self._lock:
            row = self._conn.execute(
                "SELECT doc FROM integrations WHERE token_hash = ?", (digest,)
            ).fetchone()
            if row is None:
                return None
            integration = Integration.from_doc(orjson.loads(row[0]))
            assert isinstance(integration, Integration)
            self._index_integration(integration)
            bot = self._conn.execute(
                "SELECT kind, doc FROM objects WHERE id = ?", (integration.bot_id,)
            ).fetchone()
            if bot is not None:
                user = User.from_doc(orjson.loads(bot[1]))
                self.records[user.id] = user
            return integration

    def refresh_shares(self, integration_id: str) -> None:
        """Re-read what is shared with one integration (shares may come from the CLI)."""
        with self._lock:
            for (object_id,) in self._conn.execute(
                "SELECT object_id FROM shares WHERE integration_id = ?", (integration_id,)
            ):
                self.shares.add((object_id, integration_id))

    def next_seq(self) -> int:
        """A monotonically increasing creation number (orders rows, children, lists)."""
        value = int(self.meta.get("seq", "0")) + 1
        self.meta["seq"] = str(value)
        self._meta_dirty = True
        return value

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group changes into one SQLite transaction; on error, restore memory from disk.

        Nested calls join the outer transaction.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            self._dirty = {}
            self._removed = set()
            self._pending_sql = []
            self._meta_dirty = False
            seq_before = self.meta.get("seq", "0")
            try:
                yield
                self._flush()
            except BaseException:
                self._restore(seq_before)
                raise
            finally:
                self._depth = 0
                self._dirty = None
                self._removed = set()
                self._pending_sql = []

    def _require_tx(self) -> dict[str, Record]:
        if self._dirty is None:
            raise InternalError("store changes must happen inside Store.transaction()")
        return self._dirty

    def add(self, record: R) -> R:
        """Insert a new record (inside a transaction)."""
        dirty = self._require_tx()
        self.records[record.id] = record
        dirty[record.id] = record
        self._removed.discard(record.id)
        if isinstance(record, Page) and record.parent_type == "data_source_id" and record.parent_id:
            self.rows.setdefault(record.parent_id, {})[record.id] = record
        return record

    def touch(self, record: Record) -> None:
        """Mark a record as changed (inside a transaction), so it is written through."""
        self._require_tx()[record.id] = record

    def remove(self, record: Record) -> None:
        """Delete a record for good (comments, views, view queries: Notion deletes those)."""
        dirty = self._require_tx()
        self.records.pop(record.id, None)
        dirty.pop(record.id, None)
        self._removed.add(record.id)

    def move_row(self, page: Page, old_parent: str | None) -> None:
        """Keep the rows index right when a page changes parent."""
        if old_parent is not None and old_parent in self.rows:
            self.rows[old_parent].pop(page.id, None)
        if page.parent_type == "data_source_id" and page.parent_id:
            self.rows.setdefault(page.parent_id, {})[page.id] = page

    def add_integration(self, integration: Integration) -> None:
        """Register an integration (its bot user is added with :meth:`add`)."""
        self._require_tx()
        self._pending_sql.append(
            (
                "INSERT INTO integrations (id, token_hash, doc) VALUES (?, ?, ?)",
                (integration.id, integration.token_hash, orjson.dumps(integration.to_doc())),
            )
        )
        self._index_integration(integration)

    def replace_token(self, integration: Integration, token_hash: str) -> None:
        """Give an integration a new token (the old one stops working)."""
        self._require_tx()
        self.by_token.pop(integration.token_hash, None)
        integration.token_hash = token_hash
        self._pending_sql.append(
            (
                "UPDATE integrations SET token_hash = ?, doc = ? WHERE id = ?",
                (token_hash, orjson.dumps(integration.to_doc()), integration.id),
            )
        )
        self._index_integration(integration)

    def share(self, object_id: str, integration_id: str) -> None:
        """Share an object (and so everything under it) with an integration."""
        self._require_tx()
        self._pending_sql.append(
            ("INSERT OR IGNORE INTO shares VALUES (?, ?)", (object_id, integration_id))
        )
        self.shares.add((object_id, integration_id))

    def set_meta(self, key: str, value: str) -> None:
        """Set a workspace-level setting (inside a transaction)."""
        self._require_tx()
        self.meta[key] = value
        self._meta_dirty = True

    def put_file_part(self, upload_id: str, part: int, data: bytes) -> None:
        """Store the bytes of one part of a file upload."""
        self._require_tx()
        self._pending_sql.append(
            ("INSERT OR REPLACE INTO files VALUES (?, ?, ?)", (upload_id, part, data))
        )

    def file_bytes(self, upload_id: str) -> bytes:
        """The bytes of an upload, parts in order."""
        with self._lock:
            parts = self._conn.execute(
                "SELECT data FROM files WHERE upload_id = ? ORDER BY part", (upload_id,)
            ).fetchall()
        return b"".join(p[0] for p in parts)

    def _flush(self) -> None:
        assert self._dirty is not None
        if not (self._dirty or self._removed or self._pending_sql or self._meta_dirty):
            return
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self._dirty:
                conn.executemany(
                    "INSERT INTO objects (id, kind, doc) VALUES (?, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                    [(r.id, r.kind, orjson.dumps(r.to_doc())) for r in self._dirty.values()],
                )
            if self._removed:
                conn.executemany("DELETE FROM objects WHERE id = ?", [(i,) for i in self._removed])
            for statement, params in self._pending_sql:
                conn.execute(statement, params)
            if self._meta_dirty:
                conn.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)", list(self.meta.items())
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _restore(self, seq_before: str) -> None:
        """Undo in memory what the failed transaction changed, from the committed file."""
        assert self._dirty is not None
        touched = set(self._dirty) | self._removed
        self.meta["seq"] = seq_before
        if self._pending_sql:  # integrations and shares added in this transaction
            self.integrations.clear()
            self.by_token.clear()
            for (doc,) in self._conn.execute("SELECT doc FROM integrations"):
                integration = Integration.from_doc(orjson.loads(doc))
                assert isinstance(integration, Integration)
                self._index_integration(integration)
            self.shares = set(self._conn.execute("SELECT object_id, integration_id FROM shares"))
        for record_id in touched:
            row = self._conn.execute(
                "SELECT kind, doc FROM objects WHERE id = ?", (record_id,)
            ).fetchone()
            if row is None:
                self.records.pop(record_id, None)
            else:
                self.records[record_id] = KINDS[row[0]].from_doc(orjson.loads(row[1]))
        if touched:
            self._rebuild_rows()

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the SQLite connection."""
        with self._lock:
            self._conn.close()

    def counts(self) -> dict[str, int]:
        """How many records of each kind (for the startup banner and the admin API)."""
        result: dict[str, int] = {}
        for record in self.records.values():
            result[record.kind] = result.get(record.kind, 0) + 1
        return result
