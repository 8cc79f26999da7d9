"""The filesystem server's pure text: edits and diffs, globs, listings and file info.

No I/O here: :mod:`devfactory.mcp.filesystem` reads and writes through the sandbox and
hands these functions strings, entries and ``stat`` results. The output formats follow the
reference server so that prompts written for it keep working.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import stat
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from devfactory.errors import UserError
from devfactory.mcp.sandbox import Entry

__all__ = [
    "apply_edits",
    "describe",
    "excluder",
    "fenced",
    "format_size",
    "glob",
    "listing",
    "sized_listing",
    "unified_diff",
]


# -- edits ----------------------------------------------------------------------------------


def apply_edits(content: str, edits: Sequence[tuple[str, str]]) -> str:
    """Apply each ``(old, new)`` to the text in turn (line endings as ``\\n``).

    An exact match of ``old`` is replaced first; failing that, a run of lines that equals
    ``old`` line by line once leading and trailing whitespace is ignored, and the new text
    is re-indented to the file's (what the reference server does, minus its habit of losing
    a level on the lines after the first).

    Raises:
        UserError: an ``old`` is empty or matches nowhere.
    """
    for old_text, new_text in edits:
        old = old_text.replace("\r\n", "\n")
        new = new_text.replace("\r\n", "\n")
        if not old:
            raise UserError("An edit's oldText must not be empty")
        if old in content:
            content = content.replace(old, new, 1)
        else:
            content = _replace_lines(content, old, new)
    return content


def _replace_lines(content: str, old: str, new: str) -> str:
    old_lines = old.split("\n")
    lines = content.split("\n")
    for start in range(len(lines) - len(old_lines) + 1):
        window = lines[start : start + len(old_lines)]
        if all(a.strip() == b.strip() for a, b in zip(old_lines, window, strict=True)):
            written, found = _indent(old_lines[0]), _indent(window[0])
            # Re-base: the indentation the edit was written with becomes the file's.
            lines[start : start + len(old_lines)] = [
                found + line[len(written) :] if line.startswith(written) and line.strip() else line
                for line in new.split("\n")
            ]
            return "\n".join(lines)
    raise UserError(f"Could not find exact match for edit:\n{old}")


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def unified_diff(before: str, after: str, label: str) -> str:
    """A git-style unified diff, marking a last line without a newline as git does."""
    diff = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=label,
        tofile=label,
        fromfiledate="original",
        tofiledate="modified",
    )
    return "".join(
        line if line.endswith("\n") else f"{line}\n\\ No newline at end of file\n" for line in diff
    )


def fenced(diff: str) -> str:
    """The diff in a ```diff fence long enough not to be closed by backticks inside it."""
    fence = "```"
    while fence in diff:
        fence += "`"
    return f"{fence}diff\n{diff}{fence}\n\n"


# -- globs ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def glob(pattern: str) -> re.Pattern[str]:
    """Compile a glob as minimatch reads it with ``dot: true`` (use ``fullmatch``).

    ``*`` and ``?`` stay within one name, ``**`` spans directories, ``[...]`` (``[!...]``
    negated) and ``{a,b}`` as usual; a trailing ``/`` is ignored.
    """
    return re.compile(_glob_regex(pattern.rstrip("/")), re.DOTALL)


def _glob_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = re.escape(body[1:] if negate else body).replace("\\-", "-")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end
        elif char == "{" and (end := pattern.find("}", i)) != -1:
            choices = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_glob_regex(choice) for choice in choices) + ")")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def excluder(patterns: Sequence[str]) -> Callable[[tuple[str, ...], Entry], bool]:
    """A ``prune`` for :meth:`Sandbox.walk`, gitignore-like: a pattern without ``/`` matches
    a name at any depth (``node_modules``, ``*.log``), one with ``/`` the whole path relative
    to where the walk started (``src/**/*.gen.py``)."""
    by_name = [glob(pattern) for pattern in patterns if "/" not in pattern.rstrip("/")]
    by_path = [glob(pattern) for pattern in patterns if "/" in pattern.rstrip("/")]

    def prune(parts: tuple[str, ...], entry: Entry) -> bool:
        relative = "/".join(parts)
        return any(m.fullmatch(entry.name) for m in by_name) or any(
            m.fullmatch(relative) for m in by_path
        )

    return prune


# -- listings and file info -----------------------------------------------------------------


def listing(entries: Sequence[Entry]) -> str:
    """``list_directory``: one ``[DIR]``/``[FILE]`` line per entry (a link is a ``[FILE]``)."""
    return "\n".join(f"{_tag(entry)} {entry.name}" for entry in entries)


def sized_listing(entries: Sequence[Entry], sort_by: str = "name") -> str:
    """``list_directory_with_sizes``: padded names and sizes (largest first when ``sort_by``
    is ``size``), then the totals, as the reference prints them."""
    ordered = sorted(entries, key=lambda e: -_size(e)) if sort_by == "size" else list(entries)
    lines = [
        f"{_tag(entry)} {entry.name.ljust(30)} "
        + ("" if entry.kind == "directory" else format_size(entry.size).rjust(10))
        for entry in ordered
    ]
    files = [entry for entry in entries if entry.kind != "directory"]
    lines += [
        "",
        f"Total: {len(files)} files, {len(entries) - len(files)} directories",
        f"Combined size: {format_size(sum(entry.size for entry in files))}",
    ]
    return "\n".join(lines)


def format_size(size: int) -> str:
    """``1536`` → ``1.50 KB``; bytes below 1 KiB as ``N B``."""
    units = ["B", "KB", "MB", "GB", "TB"]
    if size <= 0:
        return "0 B"
    unit = 0
    while unit < len(units) - 1 and size >= 1024 ** (unit + 1):
        unit += 1
    return f"{size} B" if unit == 0 else f"{size / 1024**unit:.2f} {units[unit]}"


def describe(info: os.stat_result) -> str:
    """``get_file_info``'s ``key: value`` lines, with the reference's keys (times in UTC ISO
    8601; ``created`` is ``unknown`` where the platform keeps no birth time)."""
    birth = getattr(info, "st_birthtime", None)
    fields = {
        "size": info.st_size,
        "created": _time(birth) if birth is not None else "unknown",
        "modified": _time(info.st_mtime),
        "accessed": _time(info.st_atime),
        "isDirectory": str(stat.S_ISDIR(info.st_mode)).lower(),
        "isFile": str(stat.S_ISREG(info.st_mode)).lower(),
        "permissions": f"{stat.S_IMODE(info.st_mode):o}"[-3:],
    }
    return "\n".join(f"{key}: {value}" for key, value in fields.items())


def _tag(entry: Entry) -> str:
    return "[DIR]" if entry.kind == "directory" else "[FILE]"


def _size(entry: Entry) -> int:
    return 0 if entry.kind == "directory" else entry.size


def _time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()
