"""docs/benchmarks.md holds one section per benchmark script; each rewrites only its own."""

from __future__ import annotations

import re
from pathlib import Path

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
