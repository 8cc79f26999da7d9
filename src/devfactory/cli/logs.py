"""``devfactory logs search | tail | show-op | prune``: the log store from the command line.

The store is the one of :attr:`devfactory.config.Settings.store_url` (docs/log-search.md).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from devfactory.config import load_settings
from devfactory.errors import UserError
from devfactory.obs.logstore import LogQuery, LogStore, open_store

__all__ = ["app", "follow", "parse_duration", "parse_when"]

app = typer.Typer(help="Search, follow and prune the stored log lines.", no_args_is_help=True)

NO_LINES = "no log lines yet"
STANDARD = {
    "timestamp",
    "level",
    "stream",
    "component",
    "event",
    "operation_id",
    "parent_operation_id",
    "trace_id",
    "span_id",
    "_id",
}
LEVEL_STYLE = {
    "debug": "dim",
    "info": "green",
    "warning": "yellow",
    "error": "red",
    "critical": "bold white on red",
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``30s``, ``15m``, ``1h``, ``2d`` or ``1w`` as a timedelta."""
    match = _DURATION.match(text)
    if match is None:
        raise UserError(f"{text!r} is not a duration (want e.g. 30s, 15m, 1h, 2d, 1w)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """A moment given as an age (``1h`` = an hour ago) or an ISO date/time (UTC if no zone)."""
    if _DURATION.match(text):
        return (now or datetime.now(UTC)) - parse_duration(text)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(
            f"{text!r} is neither an age (30m, 1h, 2d) nor an ISO time (2026-11-25T22:30)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _split(value: str | None) -> str | list[str] | None:
    if value is None or "," not in value:
        return value
    return [part.strip() for part in value.split(",") if part.strip()]


def _open() -> LogStore | None:
    """The configured store, or ``None`` when it is a SQLite file not made yet."""
    url = load_settings().store_url
    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ":memory:"
    if path != ":memory:" and not Path(path).exists():
        return None
    return open_store(url)


def _when(record: dict[str, Any]) -> datetime | None:
    stamp = record.get("timestamp")
    try:
        return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        return None


def _time(record: dict[str, Any]) -> str:
    moment = _when(record)
    if moment is None:
        return str(record.get("timestamp", ""))
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _fields(record: dict[str, Any], width: int = 70) -> str:
    text = " ".join(
        f"{key}={value if isinstance(value, str) else orjson.dumps(value).decode()}"
        for key, value in record.items()
        if key not in STANDARD
    )
    return text if len(text) <= width else text[: width - 1] + "…"


def _level(record: dict[str, Any]) -> Text:
    level = str(record.get("level", ""))
    return Text(level, style=LEVEL_STYLE.get(level, ""))


def lines_table(records: Sequence[dict[str, Any]]) -> Table:
    """Records as a table: time (UTC), level (coloured), stream, component, op, event, fields."""
    table = Table("time (UTC)", "level", "stream", "component", "op", "event", "fields")
    for record in records:
        table.add_row(
            _time(record),
            _level(record),
            Text(str(record.get("stream", ""))),
            Text(str(record.get("component", "") or "")),
            Text(str(record.get("operation_id", "") or "")[:12]),
            Text(str(record.get("event", ""))),
            Text(_fields(record), style="dim"),
        )
    return table


def _print_json(records: Sequence[dict[str, Any]]) -> None:
    for record in records:
        sys.stdout.write(orjson.dumps(record).decode() + "\n")
    sys.stdout.flush()


@app.command()
def search(
    text: str | None = typer.Argument(None, help="Words to find (all of them; `word*` = prefix)."),
    level: str | None = typer.Option(
        None,
        "--level",
        "-l",
        help="Minimum level (warning = warning and up), or a set: info,error.",
    ),
    stream: str | None = typer.Option(None, "--stream", "-s", help="Stream, or a set: gate,audit."),
    component: str | None = typer.Option(None, "--component", "-c", help="Component name."),
    op: str | None = typer.Option(None, "--op", metavar="ID", help="Operation id."),
    since: str | None = typer.Option(None, "--since", help="From: an age (1h, 30m, 2d) or ISO."),
    until: str | None = typer.Option(None, "--until", help="Until: an age or ISO (exclusive)."),
    limit: int = typer.Option(100, "--limit", "-n", help="At most this many lines."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines, not a table."),
) -> None:
    """Find log lines, newest first."""
    query = LogQuery(
        text=text,
        level=_split(level),
        stream=_split(stream),
        component=component,
        operation_id=op,
        since=parse_when(since) if since else None,
        until=parse_when(until) if until else None,
        limit=limit,
    )
    store = _open()
    if store is None:
        Console(stderr=True).print(NO_LINES)
        return
    with store:
        found = store.search(query)
    if as_json:
        _print_json(found)
        return
    out = Console()
    if not found:
        out.print("no matching log lines")
        return
    out.print(lines_table(found))
    out.print(f"{len(found)} line{'s' if len(found) != 1 else ''}", style="dim")


def follow(
    store: LogStore,
    after_id: int | None,
    *,
    interval: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """Lines stored after ``after_id``, polling every ``interval`` seconds, until interrupted."""
    while True:
        batch = store.tail(after_id, limit=1000)
        yield from batch
        if batch:
            after_id = int(batch[-1]["_id"])
        if len(batch) < 1000:
            sleep(interval)


@app.command()
def tail(
    lines: int = typer.Option(20, "--lines", "-n", help="How many of the last lines to show."),
    follow_: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines, not a table."),
) -> None:
    """Show the last lines; with -f, keep following the store (Ctrl-C stops)."""
    store = _open()
    if store is None:
        Console(stderr=True).print(NO_LINES)
        return
    out = Console()
    with store:
        last = store.tail(None, limit=lines)
        if as_json:
            _print_json(last)
        elif last:
            out.print(lines_table(last))
        if not follow_:
            return
        after = int(last[-1]["_id"]) if last else 0
        try:
            for record in follow(store, after):
                if as_json:
                    _print_json([record])
                else:
                    out.print(
                        Text.assemble(
                            _time(record),
                            " ",
                            _level(record),
                            f" {record.get('stream', '')} {record.get('component', '') or ''} ",
                            str(record.get("event", "")),
                            " ",
                            (_fields(record, 120), "dim"),
                        )
                    )
        except KeyboardInterrupt:
            return


def _seconds(records: Sequence[dict[str, Any]]) -> float:
    moments = [m for m in map(_when, records) if m is not None]
    return (max(moments) - min(moments)).total_seconds() if moments else 0.0


def operation_tree(operation_id: str, records: Sequence[dict[str, Any]]) -> Tree:
    """The lines of an operation tree as a Rich tree: each operation (with its duration) holds
    its lines and its child operations, in time order."""
    own: dict[str, list[dict[str, Any]]] = {}
    children: dict[str, list[str]] = {}
    for record in records:
        op = str(record.get("operation_id"))
        if op not in own:
            own[op] = []
            parent = record.get("parent_operation_id")
            if parent is not None and op != operation_id:
                children.setdefault(str(parent), []).append(op)
        own[op].append(record)

    def subtree(op: str) -> list[dict[str, Any]]:
        found = list(own.get(op, []))
        for child in children.get(op, []):
            found.extend(subtree(child))
        return found

    def label(op: str) -> Text:
        lines = own.get(op, [])
        first = lines[0] if lines else {}
        return Text.assemble(
            ("operation ", "bold"),
            (op, "bold cyan"),
            f"  {first.get('component', '') or ''}  ",
            (f"{len(lines)} line{'s' if len(lines) != 1 else ''}, ", "dim"),
            (f"{_seconds(subtree(op)):.3f} s", "bold"),
        )

    def grow(node: Tree, op: str) -> None:
        items: list[tuple[str, int, Any]] = [
            (_time(r), int(r.get("_id", 0)), r) for r in own.get(op, [])
        ]
        for child in children.get(op, []):
            first = own[child][0]
            items.append((_time(first), int(first.get("_id", 0)), child))
        for _, _, item in sorted(items, key=lambda entry: (entry[0], entry[1])):
            if isinstance(item, str):
                grow(node.add(label(item)), item)
            else:
                node.add(
                    Text.assemble(
                        _time(item)[11:],
                        " ",
                        _level(item),
                        " ",
                        str(item.get("event", "")),
                        " ",
                        (_fields(item), "dim"),
                    )
                )

    root = Tree(label(operation_id))
    grow(root, operation_id)
    return root


@app.command("show-op")
def show_op(
    operation_id: str = typer.Argument(..., metavar="ID", help="The operation id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines, not a tree."),
) -> None:
    """Show an operation with its child operations and all their lines."""
    store = _open()
    if store is None:
        Console(stderr=True).print(NO_LINES)
        return
    with store:
        records = store.operation_tree(operation_id)
    if not records:
        raise UserError(f"no log lines for operation {operation_id!r}")
    if as_json:
        _print_json(records)
        return
    Console().print(operation_tree(operation_id, records))


@app.command()
def prune(
    keep: str = typer.Option("30d", "--keep", help="Keep lines younger than this (e.g. 30d)."),
) -> None:
    """Delete lines older than --keep; prints how many went."""
    cutoff = datetime.now(UTC) - parse_duration(keep)
    store = _open()
    if store is None:
        Console(stderr=True).print(NO_LINES)
        return
    with store:
        deleted = store.prune(cutoff)
        left = store.count()
    Console().print(
        f"deleted {deleted} line{'s' if deleted != 1 else ''} logged before "
        f"{cutoff.strftime('%Y-%m-%d %H:%M:%S')} UTC; {left} left"
    )
