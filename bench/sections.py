"""What the benchmark scripts share: docs/benchmarks.md holds one section per script (each
rewrites only its own), and each names the commit it measured."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

TITLE = "# Benchmarks\n\nEach section is written by its script (the command to reproduce is in it); do not edit by hand.\n"


def demote(markdown: str) -> str:
    """Move every heading one level down, so a report becomes a section of the document."""
    return re.sub(r"(?m)^(#{1,5}) ", lambda m: "#" + m.group(1) + " ", markdown)


def write_section(path: Path, name: str, markdown: str) -> None:
    """Replace (or add) the section ``name`` of ``path``, keeping the others."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{demote(markdown).strip()}\n{end}\n"
    text = path.read_text() if path.exists() else TITLE
    if not text.startswith("# Benchmarks\n"):
        text = TITLE  # an old single-report file: start the sectioned layout
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + block + after.lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


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
