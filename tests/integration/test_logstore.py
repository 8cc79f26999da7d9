"""The log store on both engines (SQLite FTS5, PostgreSQL tsvector), and its batch writer."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from devfactory.db import Database
from devfactory.errors import UserError
from devfactory.obs.logstore import (
    BatchWriter,
    LogQuery,
    LogStore,
    PostgresLogStore,
    SQLiteLogStore,
    fts5_query,
    fts_text,
    open_store,
    pg_tsvector,
    term_list,
)
from devfactory.obs.metrics import REGISTRY

T0 = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)


def record(event: str, *, at: float = 0, **fields: Any) -> dict[str, Any]:
    """A log record as devfactory.obs.log writes it, ``at`` seconds after T0."""
    stamp = (T0 + timedelta(seconds=at)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    base = {"level": "info", "stream": "operations", "component": "deploy"}
    return {"timestamp": stamp, **base, "event": event, **fields}


def lines(*records: dict[str, Any]) -> list[tuple[bytes, dict[str, Any]]]:
    return [(orjson.dumps(r), r) for r in records]


def events(found: Sequence[dict[str, Any]]) -> list[str]:
    return [r["event"] for r in found]


@pytest.fixture
def store(store_url: str) -> Iterator[LogStore]:
    """An empty store on the engine under test."""
    with open_store(store_url) as opened:
        yield opened


@pytest.fixture
def filled(store: LogStore) -> LogStore:
    """A store with a small, varied set of lines."""
    store.write(
        lines(
            record("plan made", at=0, operation_id="op-a", steps=4),
            record(
                "create failed",
                at=10,
                level="error",
                stream="errors",
                operation_id="op-a",
                error="duplicate title",
            ),
            record("tool call", at=20, component="gateway", tool="notion.delete"),
            record("approval asked", at=30, level="warning", stream="gate", tool="notion.delete"),
            record("overwrite confirmed", at=40, level="debug", stream="audit"),
        )
    )
    return store


def test_search_by_event_word_newest_first(filled: LogStore) -> None:
    """A word of the event finds the line; results come newest first with their ids."""
    found = filled.search(LogQuery(text="call"))
    assert ["tool call"] == events(found)
    assert isinstance(found[0]["_id"], int)
    assert ["overwrite confirmed", "approval asked", "tool call", "create failed", "plan made"] == (
        events(filled.search(LogQuery()))
    )


def test_search_finds_words_in_field_values(filled: LogStore) -> None:
    """Words in any field value are searchable: error="duplicate title" matches `duplicate`."""
    assert ["create failed"] == events(filled.search(LogQuery(text="duplicate")))
    assert ["approval asked", "tool call"] == events(filled.search(LogQuery(text="notion.delete")))
    assert ["create failed"] == events(filled.search(LogQuery(text='"duplicate title"')))
    assert [] == filled.search(LogQuery(text='"title duplicate"'))


def test_all_terms_must_match_and_prefix_works(filled: LogStore) -> None:
    """Terms are ANDed; `term*` is a prefix search."""
    assert ["create failed"] == events(filled.search(LogQuery(text="duplicate failed")))
    assert [] == filled.search(LogQuery(text="duplicate approval"))
    assert ["overwrite confirmed"] == events(filled.search(LogQuery(text="overwr*")))
    assert ["approval asked"] == events(filled.search(LogQuery(text="approv* notion")))


def test_filters_level_minimum_and_set(filled: LogStore) -> None:
    """A level string is a minimum, a collection an exact set; stream/component/op filter."""
    assert ["approval asked", "create failed"] == events(filled.search(LogQuery(level="warning")))
    assert ["overwrite confirmed", "create failed"] == events(
        filled.search(LogQuery(level={"debug", "error"}))
    )
    assert ["approval asked"] == events(filled.search(LogQuery(stream="gate")))
    assert ["approval asked", "create failed"] == events(
        filled.search(LogQuery(stream=["gate", "errors"]))
    )
    assert ["tool call"] == events(filled.search(LogQuery(component="gateway")))
    assert ["create failed", "plan made"] == events(filled.search(LogQuery(operation_id="op-a")))
    assert ["approval asked"] == events(filled.search(LogQuery(text="notion", level="warning")))
    assert ["plan made"] == events(filled.search(LogQuery(limit=1, level={"info"}, text="op-a")))


def test_time_range_is_half_open(filled: LogStore) -> None:
    """since <= time < until; naive datetimes are UTC."""
    since, until = T0 + timedelta(seconds=10), T0 + timedelta(seconds=30)
    assert ["tool call", "create failed"] == events(
        filled.search(LogQuery(since=since, until=until))
    )
    naive = since.replace(tzinfo=None)
    assert 4 == len(filled.search(LogQuery(since=naive)))
    assert ["tool call"] == events(filled.search(LogQuery(text="tool", since=since, until=until)))
    assert ["approval asked", "tool call"] == events(filled.search(LogQuery(text="tool")))


def test_time_range_with_text_finds_lines_stored_out_of_order(store: LogStore) -> None:
    """Lines written long after their time (an import of old lines) are still found by a
    text search in their time range."""
    store.write(lines(*(record(f"recent {i}", at=1000 + i) for i in range(3))))
    store.write(lines(record("imported old", at=5), record("imported newer", at=2000)))
    store.write(lines(record("recent again", at=3000)))
    since, until = T0, T0 + timedelta(seconds=10)
    assert ["imported old"] == events(
        store.search(LogQuery(text="imported", since=since, until=until))
    )
    assert ["imported newer", "imported old"] == events(
        store.search(LogQuery(text="imported", since=since))
    )
    assert ["recent 2", "recent 1", "recent 0"] == events(
        store.search(LogQuery(text="recent", until=T0 + timedelta(seconds=1500)))
    )
    assert [] == store.search(LogQuery(text="recent", since=T0 + timedelta(seconds=9000)))
    store.prune(T0 + timedelta(seconds=1500))
    assert ["imported newer"] == events(store.search(LogQuery(text="imported", since=T0)))


def test_unknown_level_or_stream_is_a_user_error() -> None:
    """A typo in a filter is the user's to fix, with the valid values in the message."""
    with pytest.raises(UserError, match=r"unknown level 'warn'.*warning"):
        LogQuery(level="warn")
    with pytest.raises(UserError, match="unknown stream 'opz'"):
        LogQuery(stream=["opz"])


@pytest.mark.parametrize(
    "text",
    [
        'a"b',
        "foo-bar",
        "AND(",
        "NOT OR AND",
        '"',
        '"unclosed phrase',
        "***",
        "*x",
        "(",
        ")",
        "col:value",
        "^start",
        "NEAR(a b)",
        "'; DROP TABLE logs; --",
        "\\",
        "{}[]",
        "%_?",
        "über ça",
    ],
)
def test_hostile_query_strings_never_raise(filled: LogStore, text: str) -> None:
    """No user text is syntax: any string searches without an error."""
    filled.search(LogQuery(text=text))
    assert 5 == filled.count()


def test_fts5_query_quotes_every_term() -> None:
    """The FTS5 expression quotes each term, keeps prefixes and phrases, drops empties."""
    assert '"a""b"' == fts5_query('a"b')
    assert '"foo-bar" "over"*' == fts5_query("foo-bar over*")
    assert '"two words"' == fts5_query('"two words"')
    assert '"AND("' == fts5_query("AND( ( ***")
    assert fts5_query("( ) ***") is None
    assert [("x", True), ("y z", False)] == term_list('x* "y z"')


def test_a_query_with_no_words_applies_only_the_filters(filled: LogStore) -> None:
    """Text made only of punctuation matches like no text at all."""
    assert 5 == len(filled.search(LogQuery(text="( ) ***")))


def test_tail_after_id(store: LogStore) -> None:
    """tail() gives the last lines, then exactly the lines stored after a given id."""
    store.write(lines(*(record(f"line {i}", at=i) for i in range(5))))
    last = store.tail(limit=2)
    assert ["line 3", "line 4"] == events(last)
    assert [] == store.tail(after_id=last[-1]["_id"])
    store.write(lines(record("line 5", at=5), record("line 6", at=6)))
    assert ["line 5", "line 6"] == events(store.tail(after_id=last[-1]["_id"]))
    assert ["line 5"] == events(store.tail(after_id=last[-1]["_id"], limit=1))


def test_operation_tree_of_nested_operations(store: LogStore) -> None:
    """An operation's tree holds its lines and every descendant's, in time order, and no
    other operation's."""
    store.write(
        lines(
            record("child done", at=5, operation_id="op-child", parent_operation_id="op-root"),
            record("root start", at=0, operation_id="op-root"),
            record("child start", at=1, operation_id="op-child", parent_operation_id="op-root"),
            record("grandchild", at=2, operation_id="op-grand", parent_operation_id="op-child"),
            record("sibling", at=3, operation_id="op-sib", parent_operation_id="op-root"),
            record("other", at=4, operation_id="op-other"),
            record("root end", at=6, operation_id="op-root"),
        )
    )
    tree = store.operation_tree("op-root")
    assert [
        "root start",
        "child start",
        "grandchild",
        "sibling",
        "child done",
        "root end",
    ] == events(tree)
    assert ["child start", "grandchild", "child done"] == events(store.operation_tree("op-child"))
    assert [] == store.operation_tree("op-missing")


def test_prune_removes_lines_and_their_search_entries(filled: LogStore) -> None:
    """Pruning deletes old lines; a deleted line is no longer found by a full-text search."""
    assert ["create failed"] == events(filled.search(LogQuery(text="duplicate")))
    assert 2 == filled.prune(T0 + timedelta(seconds=20))
    assert 3 == filled.count()
    assert [] == filled.search(LogQuery(text="duplicate"))
    assert [] == filled.search(LogQuery(text="plan"))
    assert ["tool call"] == events(filled.search(LogQuery(text="call")))
    assert 0 == filled.prune(T0)


def test_write_accepts_odd_records(store: LogStore) -> None:
    """Missing or malformed fields never stop a line from being stored."""
    odd = {"event": "no timestamp or level", "n": 1}
    bad_time = {"timestamp": "yesterday", "event": "bad time", "operation_id": 42}
    store.write(lines(odd, bad_time))
    found = store.search(LogQuery(text="or"))
    assert ["no timestamp or level"] == events(found)
    assert ["bad time"] == events(store.search(LogQuery(operation_id="42")))


# --- BatchWriter ---------------------------------------------------------------------------------


def dropped() -> float:
    return REGISTRY.get_sample_value("devfactory_log_lines_dropped_total", {"sink": "store"}) or 0.0


def test_batch_writer_lines_arrive_after_flush(store: LogStore) -> None:
    """Emitted lines are stored by the writer thread; flush() waits for them."""
    writer = BatchWriter(store, batch_size=7)
    try:
        for i in range(50):
            r = record(f"emitted {i}", at=i)
            writer.emit("operations", orjson.dumps(r), r)
        writer.flush()
        assert 50 == store.count()
        assert ["emitted 49"] == events(store.search(LogQuery(limit=1)))
    finally:
        writer.close()
    assert 0 == writer.dropped_total


def test_batch_writer_owns_a_store_from_a_factory(store_url: str) -> None:
    """Given a factory, the writer opens the store and closes it on close()."""
    writer = BatchWriter(lambda: open_store(store_url))
    r = record("from factory")
    writer.emit("operations", orjson.dumps(r), r)
    writer.close()
    writer.close()  # idempotent
    with open_store(store_url) as reopened:
        assert ["from factory"] == events(reopened.tail())


class GatedStore(LogStore):
    """A store whose writes wait for a gate: a stand-in for a slow disk."""

    def __init__(self, inner: LogStore) -> None:
        self.inner = inner
        self.db = inner.db
        self.gate = threading.Event()
        self.entered = threading.Event()

    def write(self, records: Sequence[tuple[bytes, Any]]) -> None:
        self.entered.set()
        self.gate.wait(30)
        self.inner.write(records)


def test_batch_writer_overflow_counts_drops_and_reports_them(store: LogStore) -> None:
    """With the writer stuck, emit() still returns at once; the overflow is counted in
    LOG_DROPPED and one summary line says how many were dropped."""
    slow = GatedStore(store)
    before = dropped()
    writer = BatchWriter(slow, maxsize=5, batch_size=2)
    try:
        first = record("first")
        writer.emit("operations", orjson.dumps(first), first)
        assert slow.entered.wait(10)  # the writer holds "first" and waits on the gate
        for i in range(100):
            r = record(f"burst {i}")
            writer.emit("operations", orjson.dumps(r), r)
        lost = dropped() - before
        assert 95 == lost  # five fit in the queue
        slow.gate.set()
        writer.flush()
    finally:
        slow.gate.set()
        writer.close()
    assert 95 == writer.dropped_total
    assert 1 + 5 + 1 == store.count()
    summary = store.search(LogQuery(stream="errors"))
    assert ["dropped 95 log lines"] == events(summary)
    assert ("warning", 95, "store") == (
        summary[0]["level"],
        summary[0]["dropped"],
        summary[0]["sink"],
    )


class FailingStore(LogStore):
    """A store that refuses every batch except summaries after it recovers."""

    def __init__(self, inner: LogStore) -> None:
        self.inner = inner
        self.db = inner.db
        self.failing = True

    def write(self, records: Sequence[tuple[bytes, Any]]) -> None:
        if self.failing:
            raise OSError("disk full")
        self.inner.write(records)


def test_batch_writer_counts_a_refused_batch_as_dropped(store: LogStore) -> None:
    """A batch the store refuses does not kill the writer: it is counted as dropped."""
    failing = FailingStore(store)
    before = dropped()
    writer = BatchWriter(failing)
    try:
        r = record("lost")
        writer.emit("operations", orjson.dumps(r), r)
        writer.flush()
        assert 1 == dropped() - before
        failing.failing = False
        r = record("kept")
        writer.emit("operations", orjson.dumps(r), r)
        writer.flush()
    finally:
        writer.close()
    assert ["kept"] == events(store.search(LogQuery(stream="operations")))


def test_emit_after_close_is_counted(store: LogStore) -> None:
    """A line emitted after close() is dropped, but never silently."""
    writer = BatchWriter(store)
    writer.close()
    before = dropped()
    r = record("late")
    writer.emit("operations", orjson.dumps(r), r)
    assert 1 == dropped() - before


def test_postgres_search_past_the_probe_finds_older_matches(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A word rarer than the newest PROBE_IDS lines show goes on to the older ids (the second
    pass), newest first, with and without a time range; tiny buckets and probe force it."""
    from devfactory.obs.logstore import PostgresLogStore

    monkeypatch.setattr(PostgresLogStore, "PROBE_IDS", 3)
    monkeypatch.setattr(PostgresLogStore, "BUCKET", 4)
    with open_store(pg_url) as store:
        batch = [record("filler", at=i, n=i) for i in range(40)]
        batch[2] = record("needle found", at=2)
        batch[7] = record("needle again", at=7)
        store.write(lines(*batch))
        assert ["needle again", "needle found"] == events(store.search(LogQuery(text="needle")))
        until = T0 + timedelta(seconds=5)
        ranged = store.search(LogQuery(text="needle", since=T0, until=until))
        assert ["needle found"] == events(ranged)
        assert ["needle again"] == events(store.search(LogQuery(text="needle", limit=1)))


def test_postgres_store_without_buckets_gets_them_on_open(pg_url: str) -> None:
    """A store made before the id buckets existed has them filled when it is opened, so a
    time range still finds its lines."""
    with open_store(pg_url) as store:
        store.write(lines(record("old line", at=0), record("newer line", at=60)))
        store.db.execute("DROP TABLE logs_buckets")
    with open_store(pg_url) as reopened:
        assert reopened.db.execute("SELECT count(*) FROM logs_buckets")[0][0] >= 1
        since = T0 + timedelta(seconds=30)
        assert ["newer line"] == events(reopened.search(LogQuery(text="line", since=since)))


def _server_vector(store: LogStore, vector: bytes) -> str:
    """How PostgreSQL reads ``vector`` (binary, as COPY sends it): its text form."""
    with store.db._pg.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS v (tsv tsvector)")
        cur.execute("TRUNCATE v")
        with cur.copy("COPY v (tsv) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["bytea"])
            copy.write_row((vector,))
        row = cur.execute("SELECT tsv::text FROM v").fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.parametrize(
    "text",
    [
        "tool call notion.delete page_id 6b0d549b-6f03 duration_s 0.0091",
        "Repeated repeated REPEATED words, words; and a/b/c paths",
        "Übergröße café naïve 東京 2026",
        "",
        "   ...   ",
    ],
)
def test_pg_tsvector_is_what_to_tsvector_makes_of_the_same_words(pg_url: str, text: str) -> None:
    """The vector built in Python and sent in binary is the one the server would have made
    with ``to_tsvector('simple', …)`` from the text with punctuation as spaces."""
    with open_store(pg_url) as store:
        expected = store.db.execute(
            "SELECT to_tsvector('simple', regexp_replace(?, '[^[:alnum:]]+', ' ', 'g'))::text",
            (text,),
        )[0][0]
        assert expected == _server_vector(store, pg_tsvector(text))


def test_pg_tsvector_limits_match_the_servers(pg_url: str) -> None:
    """Words too long for a lexeme are left out, positions stop at 16,383 and at 255 a word,
    as ``to_tsvector`` does, so a huge line is stored instead of failing its batch."""
    long_word = "x" * 3000
    many = " ".join(["common"] * 300 + [f"w{i}" for i in range(17_000)] + ["tail"])
    with open_store(pg_url) as store:
        for text in (f"short {long_word} kept", many):
            expected = store.db.execute("SELECT to_tsvector('simple', ?)::text", (text,))[0][0]
            assert expected == _server_vector(store, pg_tsvector(text))


def test_postgres_phrase_and_prefix_search_on_written_vectors(pg_url: str) -> None:
    with open_store(pg_url) as store:
        store.write(
            lines(
                record("deploy finished", at=0, summary="three databases created"),
                record("deploy started", at=1, summary="databases three created"),
            )
        )
        found = store.search(LogQuery(text='"three databases"'))
        assert ["deploy finished"] == events(found)
        assert 2 == len(store.search(LogQuery(text="datab*")))
        assert [] == store.search(LogQuery(text="2026"))  # the timestamp is not words


def test_postgres_store_with_a_generated_vector_is_converted_on_open(pg_url: str) -> None:
    """A store made when the server generated ``tsv`` from the whole line: opening it makes
    the column plain, its old rows stay found, and new rows bring their own vectors."""
    db = Database(pg_url)
    db.script(
        PostgresLogStore._schema.replace(
            "tsv TSVECTOR\n",
            "tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', "
            "regexp_replace(event || ' ' || body, '[^[:alnum:]]+', ' ', 'g'))) STORED\n",
        )
    )
    assert (
        "s"
        == db.execute(
            "SELECT attgenerated FROM pg_attribute WHERE attrelid = 'logs'::regclass "
            "AND attname = 'tsv'"
        )[0][0]
    )
    old = record("legacy line", at=0, word="walrus")
    db.execute(
        "INSERT INTO logs (ts, level, stream, event, body) VALUES (?, 'info', 'operations', ?, ?)",
        (T0.timestamp(), old["event"], orjson.dumps(old).decode()),
    )
    db.close()
    with open_store(pg_url) as store:
        assert (
            ""
            == store.db.execute(
                "SELECT attgenerated FROM pg_attribute WHERE attrelid = 'logs'::regclass "
                "AND attname = 'tsv'"
            )[0][0]
        )
        store.write(lines(record("new line", at=5, word="walrus")))
        assert ["new line", "legacy line"] == events(store.search(LogQuery(text="walrus")))


def test_fts_text_holds_fields_but_not_columns_or_per_line_ids() -> None:
    """The words indexed besides the event: every field as key and value, nested too; not
    the time, level, stream or the per-line trace and span ids."""
    line = orjson.dumps(
        record("tool call", trace_id="abc123trace", span_id="def456", tool="notion.delete",
               page={"title": "Acme", "tags": ["urgent", "q4"]}, n=3)
    )  # fmt: skip
    text = fts_text(line)
    for word in ("tool", "notion.delete", "page", "title", "Acme", "urgent", "q4", "n 3", "deploy"):
        assert word in text
    for absent in ("abc123trace", "def456", "2026", "info", "operations"):
        assert absent not in text
    assert "not json" == fts_text(b"not json")


def test_sqlite_store_made_before_the_contentless_index_keeps_working(tmp_path: Path) -> None:
    """A store whose index is the older external-content one (fed by triggers) still
    stores, finds and prunes lines; rebuild re-indexes either kind."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    db.script(
        SQLiteLogStore._schema.replace(
            "event, text, content=''", "event, body, content='logs', content_rowid='id'"
        )
        + """
        CREATE TRIGGER logs_fts_insert AFTER INSERT ON logs BEGIN
            INSERT INTO logs_fts (rowid, event, body)
            VALUES (new.id, COALESCE(new.event, ''), COALESCE(new.body, ''));
        END;
        CREATE TRIGGER logs_fts_delete AFTER DELETE ON logs BEGIN
            INSERT INTO logs_fts (logs_fts, rowid, event, body)
            VALUES ('delete', old.id, COALESCE(old.event, ''), COALESCE(old.body, ''));
        END;
        """
    )
    db.close()
    with open_store(url) as old:
        assert isinstance(old, SQLiteLogStore) and not old.contentless
        old.write(lines(record("legacy line", at=0, word="walrus"), record("later", at=99)))
        assert ["legacy line"] == events(old.search(LogQuery(text="walrus")))
        old.rebuild()
        assert ["legacy line"] == events(old.search(LogQuery(text="walrus")))
        assert 1 == old.prune(T0 + timedelta(seconds=50))
        assert [] == old.search(LogQuery(text="walrus"))


def test_sqlite_rebuild_of_the_contentless_index(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'new.db'}") as store:
        assert isinstance(store, SQLiteLogStore) and store.contentless
        store.write(lines(record("first", at=0, word="narwhal"), record("second", at=1)))
        store.rebuild()
        assert ["first"] == events(store.search(LogQuery(text="narwhal")))
        assert 1 == store.prune(T0 + timedelta(seconds=0.5))
        assert [] == store.search(LogQuery(text="narwhal"))
        assert ["second"] == events(store.search(LogQuery(text="second")))
