"""The log store: every JSON log line in one table of the store database, searchable.

One interface, two engines, chosen by the store URL (``DEVFACTORY_DATABASE_URL``; see
docs/log-search.md):

- **SQLite**: table ``logs`` plus a *contentless* FTS5 table ``logs_fts`` over ``event`` and
  :func:`fts_text` of the line (its fields as words, without the columns' own fields and the
  per-line trace and span ids), written with each batch; ``prune`` recomputes that text to
  delete exactly what was indexed. Stores made before keep their external-content index.
- **PostgreSQL**: the same table with a ``tsvector`` column over the same words (built in
  Python by :func:`pg_tsvector` and sent in binary) and a GIN index on it, batches written
  with ``COPY``, and ``logs_buckets`` (the time span of every 2,048 ids) that turns a time range
  into an id range. A text search does not leave the plan to the planner, which cannot tell
  a rare word from a common one (see :class:`PostgresLogStore`).

The filter fields (time, level, stream, component, operation and trace ids) are typed,
indexed columns; full text covers the event and the fields of the line, keys and values
alike, so searching ``duplicate`` finds ``{"error": "duplicate title", ...}``.

:class:`BatchWriter` is the log sink in front of a store: ``emit`` never blocks (a bounded
queue), one writer thread stores batches, and lines it cannot keep up with are counted
(``devfactory_log_lines_dropped_total{sink="store"}``) and reported by a summary line.
"""

from __future__ import annotations

import contextlib
import queue
import re
import struct
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from devfactory.db import Database
from devfactory.errors import UserError
from devfactory.obs.metrics import LOG_DROPPED

__all__ = [
    "LEVELS",
    "STREAMS",
    "BatchWriter",
    "LogQuery",
    "LogStore",
    "PostgresLogStore",
    "SQLiteLogStore",
    "fts5_query",
    "fts_text",
    "open_store",
    "pg_tsvector",
    "term_list",
]

LEVELS = ("debug", "info", "warning", "error", "critical")
STREAMS = ("operations", "audit", "gate", "errors", "performance")

Record = Mapping[str, Any]
_COLUMNS = "ts, level, stream, component, operation_id, parent_operation_id, trace_id, event, body"
_INDEXES = """
CREATE INDEX IF NOT EXISTS logs_ts ON logs (ts);
CREATE INDEX IF NOT EXISTS logs_stream_ts ON logs (stream, ts);
CREATE INDEX IF NOT EXISTS logs_level_ts ON logs (level, ts);
CREATE INDEX IF NOT EXISTS logs_operation ON logs (operation_id);
CREATE INDEX IF NOT EXISTS logs_parent ON logs (parent_operation_id)
    WHERE parent_operation_id IS NOT NULL;
"""


@dataclass(frozen=True, kw_only=True)
class LogQuery:
    """What to look for; every given filter must hold (AND).

    ``text``: words that must all occur in the event or any field (``term*`` is a prefix,
    ``"two words"`` a phrase; punctuation is never syntax, so any user input is safe).
    ``level``: a string is a *minimum* (``"warning"`` = warning, error, critical); a
    collection of strings is an exact set. ``stream`` likewise is one stream or a set.
    ``since``/``until``: ``since <= time < until`` (naive datetimes are UTC).
    ``event``: one event name or a set of them, matched exactly (``"mcp.call"``).
    Results come newest first (in the order they were stored), at most ``limit``.
    """

    text: str | None = None
    level: str | Collection[str] | None = None
    stream: str | Collection[str] | None = None
    component: str | None = None
    operation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    event: str | Collection[str] | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        for level in _as_set(self.level):
            if level not in LEVELS:
                raise UserError(f"unknown level {level!r}; want one of {', '.join(LEVELS)}")
        for stream in _as_set(self.stream):
            if stream not in STREAMS:
                raise UserError(f"unknown stream {stream!r}; want one of {', '.join(STREAMS)}")
        if self.limit < 1:
            raise UserError(f"limit must be at least 1, got {self.limit}")

    def levels(self) -> list[str] | None:
        """The levels to keep, or ``None`` for all."""
        if self.level is None:
            return None
        if isinstance(self.level, str):
            return list(LEVELS[LEVELS.index(self.level) :])
        return sorted(set(self.level), key=LEVELS.index)


def _as_set(value: str | Collection[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _filters(query: LogQuery) -> tuple[list[str], list[Any]]:
    """The SQL conditions (on lines aliased ``l``) and their parameters for every filter of
    ``query`` but its text."""
    where: list[str] = []
    params: list[Any] = []
    levels = query.levels()
    if levels is not None and len(levels) < len(LEVELS):
        where.append(f"l.level IN ({', '.join('?' * len(levels))})")
        params.extend(levels)
    streams = _as_set(query.stream)
    if streams:
        where.append(f"l.stream IN ({', '.join('?' * len(streams))})")
        params.extend(streams)
    events = _as_set(query.event)
    if events:
        where.append(f"l.event IN ({', '.join('?' * len(events))})")
        params.extend(events)
    for column, value in (("component", query.component), ("operation_id", query.operation_id)):
        if value is not None:
            where.append(f"l.{column} = ?")
            params.append(value)
    if query.since is not None:
        where.append("l.ts >= ?")
        params.append(_epoch(query.since))
    if query.until is not None:
        where.append("l.ts < ?")
        params.append(_epoch(query.until))
    return where, params


# --- user text -> full-text query --------------------------------------------------------------

_TERM = re.compile(r'"([^"]*)"(\*?)|(\S+)')
_WORD = re.compile(r"[^\W_]+")


def term_list(text: str) -> list[tuple[str, bool]]:
    """Split user text into ``(term, is_prefix)``: ``"a phrase"`` stays whole, ``word*`` is a
    prefix; terms without a letter or digit are dropped (they cannot match anything)."""
    terms: list[tuple[str, bool]] = []
    for match in _TERM.finditer(text):
        phrase, star, word = match.groups()
        term, prefix = (phrase, bool(star)) if word is None else (word, word.endswith("*"))
        term = term.rstrip("*") if prefix else term
        if any(ch.isalnum() for ch in term):
            terms.append((term, prefix))
    return terms


def fts5_query(text: str) -> str | None:
    """An FTS5 MATCH expression for user text: every term quoted (so ``AND(``, ``a"b`` or
    ``foo-bar`` are words, not syntax), all terms required; ``None`` when nothing is left."""
    parts = []
    for term, prefix in term_list(text):
        quoted = '"' + term.replace('"', '""') + '"'
        parts.append(quoted + "*" if prefix else quoted)
    return " ".join(parts) or None


class _TextFilter(NamedTuple):
    """How an engine selects the lines matching some text (the lines are aliased ``l``)."""

    source: str  # the FROM clause
    condition: str
    params: list[Any]
    order: str  # the expression for "newest first"


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _row(line: bytes, record: Record) -> tuple[Any, ...]:
    stamp = record.get("timestamp")
    try:
        ts = datetime.fromisoformat(stamp).timestamp() if isinstance(stamp, str) else time.time()
    except ValueError:
        ts = time.time()

    def text(key: str) -> str | None:
        value = record.get(key)
        return None if value is None else str(value)

    return (
        ts,
        str(record.get("level", "info")),
        str(record.get("stream", "operations")),
        text("component"),
        text("operation_id"),
        text("parent_operation_id"),
        text("trace_id"),
        str(record.get("event", "")),
        line.decode("utf-8", "replace"),
    )


# Fields with their own column (and filter), or unique on every line: indexing their words
# would double the index and its cost for no search anyone makes by text.
_NOT_INDEXED = frozenset({"timestamp", "level", "stream", "event", "trace_id", "span_id", "_id"})


def _words(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{key} {_words(item)}" for key, item in value.items())
    if isinstance(value, list):
        return " ".join(_words(item) for item in value)
    return "" if value is None else str(value)


def fts_text(body: str | bytes) -> str:
    """What the SQLite full-text index holds for a stored line besides its event: every
    other field as ``key value`` words (nested ones too), without the fields that have a
    column of their own (level, stream, time) and the per-line trace and span ids. Derived
    from the stored JSON, so a delete can give the index exactly what it was given."""
    try:
        record = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if not isinstance(record, dict):
        return _words(record)
    return " ".join(
        f"{key} {_words(value)}" for key, value in record.items() if key not in _NOT_INDEXED
    )


def _span(query: LogQuery) -> tuple[float, float] | None:
    """The query's time range in Unix seconds (open ends infinite); None without a range."""
    if query.since is None and query.until is None:
        return None
    since = _epoch(query.since) if query.since is not None else float("-inf")
    until = _epoch(query.until) if query.until is not None else float("inf")
    return since, until


def _record(row_id: int, body: str) -> dict[str, Any]:
    try:
        record = orjson.loads(body)
    except orjson.JSONDecodeError:
        record = {"event": body}
    if not isinstance(record, dict):
        record = {"event": body}
    record["_id"] = row_id
    return record


# --- the store ---------------------------------------------------------------------------------


class LogStore:
    """Log lines in the store database; use :func:`open_store` to get the right engine.

    Records come back as the logged dicts plus ``_id``, the line's id in the store
    (increasing: :meth:`tail` continues after one).
    """

    _schema: str = ""
    #: SQL for the bucket of a line's time, given the range's start and the bucket width.
    _slice: str = "CAST((l.ts - ?) / ? AS INTEGER)"

    def __init__(self, db: Database) -> None:
        self.db = db
        db.script(self._schema)

    # Engine hooks ------------------------------------------------------------------------------

    def _text_filter(self, text: str, query: LogQuery) -> _TextFilter | None:
        """How to select the lines matching ``text`` (``query`` may narrow the scan);
        ``None`` when the text holds no word."""
        raise NotImplementedError

    # Writing -----------------------------------------------------------------------------------

    def write(self, records: Sequence[tuple[bytes, Record]]) -> None:
        """Store ``(line, record)`` pairs in one transaction; ``line`` is the JSON line."""
        rows = [_row(line, record) for line, record in records]
        with self.db.transaction():
            self.db.executemany(
                f"INSERT INTO logs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )

    def prune(self, older_than: datetime) -> int:
        """Delete lines logged before ``older_than`` (and their full-text entries); how many."""
        cutoff = _epoch(older_than)
        with self.db.transaction():
            count = int(self.db.execute("SELECT count(*) FROM logs WHERE ts < ?", (cutoff,))[0][0])
            if count:
                self.db.execute("DELETE FROM logs WHERE ts < ?", (cutoff,))
        return count

    # Reading -----------------------------------------------------------------------------------

    def search(self, query: LogQuery) -> list[dict[str, Any]]:
        """Lines matching ``query``, newest first."""
        where: list[str] = []
        params: list[Any] = []
        source, order = "logs l", "l.id"
        text = self._text_filter(query.text, query) if query.text else None
        if text is not None:
            source, order = text.source, text.order
            where.append(text.condition)
            params.extend(text.params)
        filters, values = _filters(query)
        return self._select(source, [*where, *filters], [*params, *values], order, query.limit)

    def _select(
        self, source: str, where: Sequence[str], params: Sequence[Any], order: str, limit: int
    ) -> list[dict[str, Any]]:
        """The first ``limit`` lines of ``source`` (aliased ``l``) meeting every condition of
        ``where``, by ``order`` descending."""
        sql = f"SELECT l.id, l.body FROM {source}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order} DESC LIMIT ?"
        rows = self.db.execute(sql, [*params, limit])
        return [_record(row_id, body) for row_id, body in rows]

    def histogram(self, query: LogQuery, buckets: int) -> list[int]:
        """How many lines match ``query`` in each of ``buckets`` equal slices of its time
        range (``since`` and ``until`` are required): the volume chart of a search. Counted
        by the database, so a busy range costs one grouped scan, not its lines."""
        if query.since is None or query.until is None:
            raise UserError("a histogram needs both since and until")
        if buckets < 1:
            raise UserError(f"buckets must be at least 1, got {buckets}")
        start, end = _epoch(query.since), _epoch(query.until)
        counts = [0] * buckets
        if end <= start:
            return counts
        width = (end - start) / buckets
        where: list[str] = []
        params: list[Any] = []
        source = "logs l"
        text = self._text_filter(query.text, query) if query.text else None
        if text is not None:
            source = text.source
            where.append(text.condition)
            params.extend(text.params)
        filters, values = _filters(query)
        sql = f"SELECT {self._slice} AS b, count(*) FROM {source}"
        sql += " WHERE " + " AND ".join([*where, *filters]) + " GROUP BY b"
        for bucket, count in self.db.execute(sql, [start, width, *params, *values]):
            # A line at the very end of a slice may round into the next: keep it in range.
            counts[min(max(int(bucket), 0), buckets - 1)] += int(count)
        return counts

    def tail(self, after_id: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Lines stored after ``after_id`` (oldest first, at most ``limit``); without an id, the
        last ``limit`` lines. Feed the last ``_id`` back in to follow the store."""
        if after_id is None:
            rows = self.db.execute("SELECT id, body FROM logs ORDER BY id DESC LIMIT ?", (limit,))
            rows.reverse()
        else:
            rows = self.db.execute(
                "SELECT id, body FROM logs WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
            )
        return [_record(row_id, body) for row_id, body in rows]

    def operation_tree(self, operation_id: str) -> list[dict[str, Any]]:
        """The lines of an operation and of all its descendants (via ``parent_operation_id``),
        in time order."""
        rows = self.db.execute(
            """
            WITH RECURSIVE ops(op) AS (
                SELECT CAST(? AS TEXT)
                UNION
                SELECT logs.operation_id FROM logs JOIN ops ON logs.parent_operation_id = ops.op
                WHERE logs.operation_id IS NOT NULL
            )
            SELECT id, body FROM logs WHERE operation_id IN (SELECT op FROM ops)
            ORDER BY ts, id
            """,
            (operation_id,),
        )
        return [_record(row_id, body) for row_id, body in rows]

    def count(self) -> int:
        """How many lines the store holds."""
        return int(self.db.execute("SELECT count(*) FROM logs")[0][0])

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def __enter__(self) -> LogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SQLiteLogStore(LogStore):
    """The SQLite engine: contentless FTS5 (unicode61) over ``event`` and :func:`fts_text`."""

    _schema = f"""
        CREATE TABLE IF NOT EXISTS logs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            level TEXT NOT NULL,
            stream TEXT NOT NULL,
            component TEXT,
            operation_id TEXT,
            parent_operation_id TEXT,
            trace_id TEXT,
            event TEXT NOT NULL,
            body TEXT NOT NULL
        );
        {_INDEXES};
        CREATE TABLE IF NOT EXISTS logs_batches (
            first_id INTEGER NOT NULL,
            last_id INTEGER NOT NULL,
            min_ts REAL NOT NULL,
            max_ts REAL NOT NULL
        );
        CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5(
            event, text, content='',
            tokenize='unicode61 remove_diacritics 2'
        );
        """

    def __init__(self, db: Database) -> None:
        found = db.execute("SELECT sql FROM sqlite_master WHERE name = 'logs_fts'")
        created = not found
        # A store made before the contentless index keeps its external-content index, fed
        # by its triggers; a new one indexes what :func:`fts_text` gives, written here.
        self.contentless = created or "content=''" in str(found[0][0])
        super().__init__(db)
        # Ingest speed (measured in bench/logstore.py): sort in memory, checkpoint the WAL
        # less often, and let FTS5 merge segments 8 at a time rather than 4.
        db.execute("PRAGMA temp_store = MEMORY")
        db.execute("PRAGMA wal_autocheckpoint = 10000")
        if created:
            db.execute("INSERT INTO logs_fts (logs_fts, rank) VALUES ('automerge', 8)")

    def write(self, records: Sequence[tuple[bytes, Record]]) -> None:
        """Store a batch, and note its id and time span in ``logs_batches``: a time range
        then bounds the rowids a full-text scan has to visit (see :meth:`_id_bounds`)."""
        rows = [_row(line, record) for line, record in records]
        if not rows:
            return
        with self.db.transaction():
            # AUTOINCREMENT under the write lock: the batch gets consecutive ids.
            before = self.db.execute("SELECT max(id) FROM logs")[0][0] or 0
            self.db.executemany(
                f"INSERT INTO logs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
            after = self.db.execute("SELECT max(id) FROM logs")[0][0]
            if self.contentless:
                self.db.executemany(
                    "INSERT INTO logs_fts (rowid, event, text) VALUES (?, ?, ?)",
                    [(before + 1 + i, row[7], fts_text(row[8])) for i, row in enumerate(rows)],
                )
            stamps = [row[0] for row in rows]
            self.db.execute(
                "INSERT INTO logs_batches VALUES (?, ?, ?, ?)",
                (before + 1, after, min(stamps), max(stamps)),
            )

    def prune(self, older_than: datetime) -> int:
        """Delete lines logged before ``older_than`` (and their full-text entries); how many.

        A contentless index forgets a line only when told the exact text it indexed, which
        :func:`fts_text` gives again from the stored line."""
        cutoff = _epoch(older_than)
        with self.db.transaction():
            if self.contentless:
                doomed = self.db.execute("SELECT id, event, body FROM logs WHERE ts < ?", (cutoff,))
                self.db.executemany(
                    "INSERT INTO logs_fts (logs_fts, rowid, event, text) "
                    "VALUES ('delete', ?, ?, ?)",
                    [(row_id, event, fts_text(body)) for row_id, event, body in doomed],
                )
            count = super().prune(older_than)
            self.db.execute("DELETE FROM logs_batches WHERE max_ts < ?", (cutoff,))
        return count

    def _id_bounds(self, query: LogQuery) -> tuple[int, int] | None:
        """The smallest and largest id a line in the query's time range can have: the span
        of the batches whose times overlap it. Exact, even for lines stored out of order."""
        span = _span(query)
        if span is None:
            return None
        since, until = span
        low, high = self.db.execute(
            "SELECT min(first_id), max(last_id) FROM logs_batches WHERE max_ts >= ? AND min_ts < ?",
            (since, until),
        )[0]
        return (0, 0) if low is None else (int(low), int(high))

    def _text_filter(self, text: str, query: LogQuery) -> _TextFilter | None:
        match = fts5_query(text)
        if match is None:
            return None
        bounds = self._id_bounds(query)
        if bounds is not None:
            return _TextFilter(
                "logs_fts CROSS JOIN logs l ON l.id = logs_fts.rowid",
                "logs_fts MATCH ? AND logs_fts.rowid BETWEEN ? AND ?",
                [match, *bounds],
                "logs_fts.rowid",
            )
        # CROSS JOIN keeps the FTS table outermost: it yields rowids newest first, so
        # "newest N" stops early instead of collecting every match of a common word.
        return _TextFilter(
            "logs_fts CROSS JOIN logs l ON l.id = logs_fts.rowid",
            "logs_fts MATCH ?",
            [match],
            "logs_fts.rowid",
        )

    def rebuild(self) -> None:
        """Re-index every line from ``logs`` (after a bulk load that bypassed :meth:`write`)."""
        if not self.contentless:
            self.db.execute("INSERT INTO logs_fts (logs_fts) VALUES ('rebuild')")
            return
        with self.db.transaction():
            self.db.execute("INSERT INTO logs_fts (logs_fts) VALUES ('delete-all')")
            rows = self.db.execute("SELECT id, event, body FROM logs")
            self.db.executemany(
                "INSERT INTO logs_fts (rowid, event, text) VALUES (?, ?, ?)",
                [(row_id, event, fts_text(body)) for row_id, event, body in rows],
            )


_PG_MAX_POS = 16383  # a tsvector position has 14 bits; later words share the last one
_PG_MAX_POSITIONS = 255  # positions kept a lexeme, as to_tsvector keeps
_PG_MAX_LEXEME = 2047  # bytes; to_tsvector skips longer words with a notice
_PG_MAX_TEXT = 262_144  # characters indexed per line: a tsvector may not exceed 1 MB
_INT = struct.Struct("!i")
_SHORT = struct.Struct("!H")
_ONE = b"\0\0\1"  # the lexeme's terminating NUL, then a position count of 1
_AT = [i.to_bytes(2, "big") for i in range(_PG_MAX_POSITIONS + 1)]  # 16-bit big-endian
_ONE_AT = [_ONE + at for at in _AT]
_ASCII_WORD = re.compile(r"[a-z0-9]+")  # _WORD on lowercased ASCII text, twice as fast


def pg_tsvector(text: str) -> bytes:
    """``text``'s words (runs of letters and digits, lowercased) as a ``tsvector`` in
    PostgreSQL's binary form, with their positions, for ``COPY … (FORMAT BINARY)``.

    The same words :func:`_pg_tsquery` searches for, split by the same expression, so index
    and query agree by construction. Building it here, on the writer thread, rather than
    ``to_tsvector`` in the server takes the parse off the database, which is the bottleneck
    of ingest (one core does the parse and the GIN insert of every line)."""
    text = text[:_PG_MAX_TEXT].lower()
    words = _ASCII_WORD.findall(text) if text.isascii() else _WORD.findall(text)
    if len(words) < _PG_MAX_POSITIONS and max(map(len, words), default=0) <= 511:
        # Nearly every line: no word too long, no cap reached; the plain loop is half the cost.
        found: dict[str, list[int]] = {}
        for at, word in enumerate(words, 1):
            seen = found.get(word)
            if seen is None:
                found[word] = [at]
            else:
                seen.append(at)
        # Positions below 256 here: their bytes come from tables, not struct calls.
        return _INT.pack(len(found)) + b"".join(
            [
                word.encode() + _ONE_AT[seen[0]]
                if len(seen) == 1
                else word.encode() + b"\0" + _AT[len(seen)] + b"".join([_AT[i] for i in seen])
                for word, seen in found.items()
            ]
        )
    positions: dict[str, list[int]] = {}
    at = 0
    for word in words:
        if len(word) > _PG_MAX_LEXEME // 4 and len(word.encode()) > _PG_MAX_LEXEME:
            continue  # skipped without taking a position, as the server does
        at = at + 1 if at < _PG_MAX_POS else _PG_MAX_POS
        seen = positions.get(word)
        if seen is None:
            positions[word] = [at]
        elif len(seen) < _PG_MAX_POSITIONS and seen[-1] < at:
            seen.append(at)
    return _pack(positions)


def _pack(positions: dict[str, list[int]]) -> bytes:
    """The binary ``tsvector``: the lexeme count, then each lexeme NUL-terminated with its
    position count and positions (16-bit, weight bits zero)."""
    parts = [_INT.pack(len(positions))]
    for word, seen in positions.items():
        if len(seen) == 1:
            parts.append(word.encode() + _ONE + _SHORT.pack(seen[0]))
        else:
            parts.append(
                word.encode() + b"\0" + struct.pack(f"!{len(seen) + 1}H", len(seen), *seen)
            )
    return b"".join(parts)


def _pg_tsquery(text: str) -> str | None:
    """A ``tsquery`` for user text (cast, not parsed again): each term's words quoted (so user
    input is never tsquery syntax) and split the way the indexed text is (punctuation is a
    separator), a phrase's words joined by ``<->``, all terms required; ``None`` when no word
    is left."""
    parts: list[str] = []
    for term, prefix in term_list(text):
        words = [f"'{word}'" for word in _WORD.findall(term.lower())]
        if words:
            parts.append(" <-> ".join(words) + (":*" if prefix else ""))
    return " & ".join(f"({part})" for part in parts) or None


class PostgresLogStore(LogStore):
    """The PostgreSQL engine: a ``tsvector`` column with a GIN index.

    Writing: one binary ``COPY`` per batch (``executemany`` costs the server one INSERT
    statement per line) with the ``tsvector`` made by :func:`pg_tsvector` from the event and
    :func:`fts_text` of the line, the words the SQLite engine indexes; and the time span of
    the batch's lines folded into ``logs_buckets`` in the same transaction.

    Searching for text, newest first, is a choice the planner gets wrong: it cannot tell a
    rare word from a common one (a word missing from its statistics is guessed at 0.3% of
    the lines), so it walks the primary key backwards filtering by the ``tsvector`` and, for a
    rare word, reads the whole table. :meth:`search` therefore asks twice: first among the
    newest ``PROBE_IDS`` ids of the range (cheap whatever the word: a common word stops after
    a few hundred lines, a rare one is looked up in the GIN index and intersected with the
    id range); only if that finds fewer than ``limit`` lines, again over the older ids,
    ordered by ``id + 0`` so the planner must take the matches from the indexes and sort
    them (few, or the first pass would have found enough). A time range is turned into an id
    range through ``logs_buckets`` first, so "newest in the range" starts at the range, not
    at the end of the table.
    """

    #: ids to a bucket of ``logs_buckets``, which keeps the time span of each bucket's lines:
    #: one row a bucket however small the batches (500 rows a million lines), and a time
    #: range's first and last line are found within a bucket of its ends.
    BUCKET = 2048
    #: how many of the newest ids of the range the first pass of a text search covers.
    PROBE_IDS = 10_000

    # ``tsv`` is written with each line (see :func:`pg_tsvector`). Stores made before held a
    # column generated in the server from the whole line; opening one turns that into a
    # plain column (its rows keep their vectors), see ``__init__``.
    _schema = f"""
        CREATE TABLE IF NOT EXISTS logs (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            ts DOUBLE PRECISION NOT NULL,
            level TEXT NOT NULL,
            stream TEXT NOT NULL,
            component TEXT,
            operation_id TEXT,
            parent_operation_id TEXT,
            trace_id TEXT,
            event TEXT NOT NULL,
            body TEXT NOT NULL,
            tsv TSVECTOR
        );
        {_INDEXES};
        CREATE INDEX IF NOT EXISTS logs_tsv ON logs USING GIN (tsv);
        CREATE TABLE IF NOT EXISTS logs_buckets (
            bucket BIGINT PRIMARY KEY,
            min_ts DOUBLE PRECISION NOT NULL,
            max_ts DOUBLE PRECISION NOT NULL
        );
        """
    # ``bytea`` sends the vector's bytes as they are; COPY reads them as the column's type.
    _types = ("float8", "text", "text", "text", "text", "text", "text", "text", "text", "bytea")
    _slice = "CAST(floor((l.ts - ?) / ?) AS BIGINT)"

    def __init__(self, db: Database) -> None:
        created = not db.execute("SELECT to_regclass('logs_buckets') IS NOT NULL")[0][0]
        super().__init__(db)
        generated = db.execute(
            "SELECT attgenerated FROM pg_attribute "
            "WHERE attrelid = 'logs'::regclass AND attname = 'tsv'"
        )
        if generated and generated[0][0] == "s":
            # A store made when the server computed the vector: new lines bring their own.
            db.execute("ALTER TABLE logs ALTER COLUMN tsv DROP EXPRESSION")
        # psycopg prepares a statement run five times, and PostgreSQL may then plan it once
        # for any values: a generic plan cannot tell a rare word or a narrow id range from a
        # broad one, which is the whole point of the search strategy. Plan every time.
        db.execute("SET plan_cache_mode = force_custom_plan")
        if created:
            # A store made before the buckets existed: one pass gives its lines their spans.
            db.execute(
                f"INSERT INTO logs_buckets SELECT id / {self.BUCKET}, min(ts), max(ts) "
                "FROM logs GROUP BY 1 ON CONFLICT (bucket) DO NOTHING"
            )

    def write(self, records: Sequence[tuple[bytes, Record]]) -> None:
        """Store a batch with one binary ``COPY``, and widen the time span of the id buckets
        its lines went into (see :meth:`_id_bounds`).

        Each row is made while the COPY runs, so the server indexes the lines already sent
        while this thread builds the vectors of the next ones."""
        if not records:
            return
        with self.db.transaction():
            # Asynchronous commit: the writer does not wait for the WAL flush, so the next
            # batch starts at once. A server crash can lose the last few hundred
            # milliseconds of lines from the store, never corrupt it; every line is also in
            # the JSONL files under ``.devfactory/logs``, which remain the record.
            self.db.execute("SET LOCAL synchronous_commit = off")
            # Every id the COPY takes is above the largest one visible now (ids only grow).
            before = self.db.execute("SELECT max(id) FROM logs")[0][0] or 0
            with (
                self.db._pg.cursor() as cur,
                cur.copy(f"COPY logs ({_COLUMNS}, tsv) FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types(self._types)
                for line, record in records:
                    row = _row(line, record)
                    copy.write_row((*row, pg_tsvector(f"{row[7]} {fts_text(row[8])}")))
            # The lines above ``before``: this batch, and any other writer's committed since
            # (whose own write records them too; counting them twice is harmless).
            self.db.execute(
                f"""
                INSERT INTO logs_buckets (bucket, min_ts, max_ts)
                SELECT id / {self.BUCKET}, min(ts), max(ts) FROM logs WHERE id > ? GROUP BY 1
                ON CONFLICT (bucket) DO UPDATE SET
                    min_ts = least(logs_buckets.min_ts, excluded.min_ts),
                    max_ts = greatest(logs_buckets.max_ts, excluded.max_ts)
                WHERE logs_buckets.min_ts > excluded.min_ts
                    OR logs_buckets.max_ts < excluded.max_ts
                """,
                (before,),
            )

    def prune(self, older_than: datetime) -> int:
        """Delete lines logged before ``older_than``, and the buckets they emptied; how many."""
        with self.db.transaction():
            count = super().prune(older_than)
            self.db.execute("DELETE FROM logs_buckets WHERE max_ts < ?", (_epoch(older_than),))
        return count

    def _id_bounds(self, query: LogQuery) -> tuple[int, int] | None:
        """The smallest and largest id of the lines in the query's time range (``None``
        without a range; low above high when no line is in it). The buckets whose span
        overlaps the range bound the ids; a walk in from each end of that, on the primary
        key, finds the first line in the range (at most a bucket away). Exact, even for
        lines stored out of order."""
        span = _span(query)
        if span is None:
            return None
        since, until = span
        low, high = self.db.execute(
            "SELECT min(bucket), max(bucket) FROM logs_buckets WHERE max_ts >= ? AND min_ts < ?",
            (since, until),
        )[0]
        if low is None:
            return (1, 0)
        low, high = self.db.execute(
            "SELECT min(id), max(id) FROM logs WHERE id BETWEEN ? AND ? AND ts >= ? AND ts < ?",
            (int(low) * self.BUCKET, (int(high) + 1) * self.BUCKET - 1, since, until),
        )[0]
        return (1, 0) if low is None else (int(low), int(high))

    def _text_filter(self, text: str, query: LogQuery) -> _TextFilter | None:
        tsquery = _pg_tsquery(text)
        if tsquery is None:
            return None
        # A cast, not ``to_tsquery``: the words are already split and lowercased as the
        # index's were, and the parser must not split them again.
        return _TextFilter("logs l", "l.tsv @@ CAST(? AS tsquery)", [tsquery], "l.id")

    def search(self, query: LogQuery) -> list[dict[str, Any]]:
        """Lines matching ``query``, newest first (see the class for how)."""
        where, params = _filters(query)
        bounds = self._id_bounds(query)
        if bounds is not None:
            low, high = bounds
            if low > high:
                return []
        text = self._text_filter(query.text, query) if query.text else None
        if text is None:
            # Filters alone: the planner's estimates hold, and the id range lets the walk
            # down the primary key start at the time range.
            if bounds is not None:
                where.append("l.id BETWEEN ? AND ?")
                params.extend(bounds)
            return self._select("logs l", where, params, "l.id", query.limit)
        where.insert(0, text.condition)
        params[:0] = text.params
        if bounds is None:
            top = self.db.execute("SELECT max(id) FROM logs")[0][0]
            if top is None:
                return []
            low, high = 0, int(top)
        cut = high - self.PROBE_IDS
        newest = self._select(
            "logs l",
            [*where, "l.id > ?", "l.id <= ?"],
            [*params, cut, high],
            "l.id",
            query.limit,
        )
        if len(newest) == query.limit or cut < low:
            return newest
        with self.db.transaction():
            # The matches are collected into a bitmap before the sort: room for it to stay
            # exact (4 MB, the default, goes lossy past ~100k lines and rechecks whole pages).
            self.db.execute("SET LOCAL work_mem = '32MB'")
            older = self._select(
                "logs l",
                [*where, "l.id >= ?", "l.id <= ?"],
                [*params, low, cut],
                "l.id + 0",
                query.limit - len(newest),
            )
        return newest + older


def open_store(url: str) -> LogStore:
    """The log store at ``url`` (``sqlite:///path`` or ``postgresql://...``), its schema made
    if missing."""
    db = Database(url)
    try:
        return SQLiteLogStore(db) if db.dialect == "sqlite" else PostgresLogStore(db)
    except BaseException:
        db.close()
        raise


# --- the sink ----------------------------------------------------------------------------------


class _Flush:
    """A marker in the queue: set once every line queued before it is stored."""

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class BatchWriter:
    """A log sink that stores lines in batches from one writer thread.

    ``emit`` only ``put_nowait``s onto a bounded queue and never blocks the caller. When the
    queue is full the line is dropped, counted in ``LOG_DROPPED{sink="store"}``, and once the
    writer catches up it stores one ``dropped N log lines`` warning on the ``errors`` stream,
    so a loss is never silent. ``flush`` waits until every line emitted before it is stored;
    ``close`` flushes and stops the thread (and closes the store if it made it).

    ``store`` is a :class:`LogStore` (the caller keeps ownership) or a factory returning one.
    """

    def __init__(
        self,
        store: LogStore | Callable[[], LogStore],
        *,
        maxsize: int = 10_000,
        batch_size: int = 2000,
        flush_interval: float = 0.2,
    ) -> None:
        self._owned = not isinstance(store, LogStore)
        self.store: LogStore = store() if not isinstance(store, LogStore) else store
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._queue: queue.Queue[Any] = queue.Queue(maxsize)
        self._dropped_lock = threading.Lock()
        self._dropped = 0
        self.dropped_total = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="devfactory-logstore", daemon=True)
        self._thread.start()

    def emit(self, stream: str, line: bytes, record: Mapping[str, Any]) -> None:
        """Queue one line for the store; drop (and count) it when the queue is full."""
        if not self._closed:
            try:
                self._queue.put_nowait((line, record))
                return
            except queue.Full:
                pass
        self._drop(1)

    def flush(self) -> None:
        """Block until every line emitted so far is stored."""
        if not self._thread.is_alive():
            return
        marker = _Flush()
        self._queue.put(marker)
        while not marker.done.wait(0.5):
            if not self._thread.is_alive():
                return

    def close(self) -> None:
        """Flush, stop the writer thread, and close the store if this writer opened it."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        if self._owned:
            self.store.close()

    # The writer thread -------------------------------------------------------------------------

    def _drop(self, n: int) -> None:
        with self._dropped_lock:
            self._dropped += n
            self.dropped_total += n
        LOG_DROPPED.labels("store").inc(n)

    def _run(self) -> None:
        stop = False
        while not stop:
            try:
                first = self._queue.get(timeout=self.flush_interval)
            except queue.Empty:
                self._report_drops()
                continue
            batch: list[tuple[bytes, Record]] = []
            markers: list[_Flush] = []
            item = first
            while True:
                if item is _STOP:
                    stop = True
                elif isinstance(item, _Flush):
                    markers.append(item)
                else:
                    batch.append(item)
                if stop or len(batch) >= self.batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._store(batch)
            self._report_drops()
            for marker in markers:
                marker.done.set()

    def _store(self, batch: list[tuple[bytes, Record]]) -> None:
        if not batch:
            return
        try:
            self.store.write(batch)
        except Exception:
            # The store refused the batch (database gone, disk full): count it as dropped; the
            # summary line will say so if the store comes back.
            self._drop(len(batch))

    def _report_drops(self) -> None:
        with self._dropped_lock:
            n, self._dropped = self._dropped, 0
        if not n:
            return
        record = {
            "timestamp": _now_iso(),
            "level": "warning",
            "stream": "errors",
            "component": "obs.logstore",
            "event": f"dropped {n} log lines",
            "dropped": n,
            "sink": "store",
        }
        with contextlib.suppress(Exception):
            self.store.write([(orjson.dumps(record), record)])
