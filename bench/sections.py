"""The sections of docs/benchmarks.md: each benchmark script rewrites only its own block,
between markers, so several scripts share one document without clobbering each other; and
each section opens the same way (what ran, when, on which commit, how to reproduce it)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

TITLE = "# Benchmarks\n\nEach section is written by its script (the command to reproduce is in it); do not edit by hand.\n"


def demote(markdown: str) -> str:
    """Move every heading one level down, so a report becomes a section of the document."""
    return re.sub(r"(?m)^(#{1,5}) ", lambda m: "#" + m.group(1) + " ", markdown)


def block(name: str, body: str) -> str:
    """``body`` between the start and end markers of ``name``: the unit of a document that
    one script owns and rewrites."""
    return f"<!-- {name}:start -->\n{body.strip()}\n<!-- {name}:end -->\n"


def splice(text: str, name: str, body: str) -> str | None:
    """``text`` with its block ``name`` replaced by one holding ``body``, the rest kept; None
    where ``text`` has no such block, so the caller decides where a new one goes."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        return None
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    return before + block(name, body) + after.lstrip("\n")


def write_section(path: Path, name: str, markdown: str) -> None:
    """Replace (or add) the section ``name`` of ``path``, keeping the others."""
    text = path.read_text() if path.exists() else TITLE
    if not text.startswith("# Benchmarks\n"):
        text = TITLE  # an old single-report file: start the sectioned layout
    body = demote(markdown)
    spliced = splice(text, name, body)
    if spliced is None:
        spliced = text.rstrip("\n") + "\n\n" + block(name, body)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(spliced)


def stamp() -> str:
    """When a report was made, in UTC to the minute: the 'Run …' line of every section."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def reproduce(command: str) -> list[str]:
    """The 'Reproduce' heading and the shell block that regenerates the section."""
    return ["## Reproduce", "", "```sh", command, "```", ""]


def preamble(title: str, run: str, command: str) -> list[str]:
    """The opening lines of a report: its title, the ``run`` line (when, on what, which
    source), how to reproduce it, and the 'Results' heading that the script's table follows."""
    return [f"# {title}", "", run, "", *reproduce(command), "## Results", ""]


def source_state() -> str:
    """The commit measured, and whether src/ had uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"`{commit}`" + (" with uncommitted changes in `src/`" if dirty else "")
