"""Identical successful reads, counted on the audit stream instead of repeated.

See :class:`Repeats`; one per dashboard app (:class:`~devfactory.web.context.WebContext`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from devfactory.obs.log import get_logger

__all__ = ["Repeats"]

_audit = get_logger("web", stream="audit")


class Repeats:
    """Successful reads repeated by one caller on one path, counted instead of written.

    A live page polls the same endpoint several times a second; a line for each would bury
    the audit stream (and the log page showing it) under identical entries. So within
    ``window`` seconds the first successful ``GET``/``HEAD`` of a caller, path and client is
    written in full and the identical ones after it are counted; when the window has passed
    (seen at the next audit, or at :meth:`flush` when the app stops) one ``web.access`` line
    with ``repeats`` = their number accounts for them. Denials and every other method are
    always written one by one.
    """

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        self._open: dict[tuple[Any, ...], list[Any]] = {}  # key -> [start, count, fields]

    def first(self, key: tuple[Any, ...], fields: dict[str, Any]) -> bool:
        """Whether this access opens a window (write it); else it was counted."""
        now = self.clock()
        with self._lock:
            due = [k for k, (start, _, _) in self._open.items() if now - start >= self.window]
            closed = [self._open.pop(k) for k in due]
            entry = self._open.get(key)
            if entry is None:
                self._open[key] = [now, 0, fields]
            else:
                entry[1] += 1
        self._write(closed)
        return entry is None

    def flush(self) -> None:
        """Write the counts of every open window (at shutdown)."""
        with self._lock:
            closed, self._open = list(self._open.values()), {}
        self._write(closed)

    def _write(self, closed: list[list[Any]]) -> None:
        for start, count, fields in closed:
            if count:
                _audit.info(
                    "web.access", **fields, repeats=count, window_s=round(self.clock() - start, 1)
                )
