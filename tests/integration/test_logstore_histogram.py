"""The log store's event filter and volume histogram, on both engines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from devfactory.errors import UserError
from devfactory.obs.logstore import LogQuery, LogStore, open_store
from tests.integration.test_logstore import T0, events, lines, record


@pytest.fixture
def store(store_url: str) -> Iterator[LogStore]:
    """A store on the engine under test with lines at 0-59 s after T0."""
    with open_store(store_url) as opened:
        opened.write(
            lines(
                record("mcp.call", at=1, stream="audit", component="gateway", tool="a"),
                record("mcp.call", at=2, stream="audit", component="gateway", tool="b"),
                record("web.access", at=3, stream="audit", component="web"),
                record("notion call", at=14, stream="performance", component="notion"),
                record("plan made", at=25, level="warning"),
                record("mcp.call", at=59.5, stream="audit", component="gateway", tool="c"),
                record("late", at=60),
            )
        )
        yield opened


def span(**fields: object) -> LogQuery:
    """A query over the minute after T0."""
    return LogQuery(since=T0, until=T0 + timedelta(seconds=60), **fields)  # type: ignore[arg-type]


class TestEventFilter:
    def test_one_event_name_matches_exactly(self, store: LogStore) -> None:
        """``event`` keeps only lines with that very event, newest first."""
        assert ["mcp.call"] * 3 == events(store.search(LogQuery(event="mcp.call")))

    def test_a_set_of_event_names(self, store: LogStore) -> None:
        """A collection of names keeps the lines of any of them, with the other filters."""
        found = store.search(LogQuery(event=["mcp.call", "notion call"], stream="performance"))
        assert ["notion call"] == events(found)


class TestHistogram:
    def test_counts_per_slice_of_the_range(self, store: LogStore) -> None:
        """Six 10 s slices of the minute; the line at 60 s is outside ``[since, until)``."""
        assert [3, 1, 1, 0, 0, 1] == store.histogram(span(), 6)

    def test_filters_and_text_narrow_the_counts(self, store: LogStore) -> None:
        """The same filters as a search apply: stream, level, event and words."""
        assert [2, 0, 0, 0, 0, 1] == store.histogram(span(event="mcp.call"), 6)
        assert [0, 0, 1, 0, 0, 0] == store.histogram(span(level="warning"), 6)
        assert [1, 0, 0, 0, 0, 0] == store.histogram(span(text="b"), 6)

    def test_needs_a_closed_range(self, store: LogStore) -> None:
        """Without ``until`` there is no width to slice; a zero-width range counts nothing."""
        with pytest.raises(UserError):
            store.histogram(LogQuery(since=T0), 6)
        assert [0, 0] == store.histogram(LogQuery(since=T0, until=T0), 2)
