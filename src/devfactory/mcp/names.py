"""Tool names across servers: ``<server>__<tool>``, within what model APIs accept.

The major model APIs accept tool names of letters, digits, ``_`` and ``-``, at most 64
characters. A downstream tool whose name does not fit is renamed deterministically
(invalid characters become ``_``; an over-long name is cut and suffixed with a short hash)
and the gateway keeps the mapping, so the downstream server still gets its own name.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Iterable

__all__ = ["MAX_LENGTH", "SEPARATOR", "exposed_name", "offered", "split", "valid"]

MAX_LENGTH = 64
SEPARATOR = "__"
_VALID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_INVALID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def valid(name: str) -> bool:
    """Whether the model APIs accept ``name`` as a tool name."""
    return bool(_VALID.fullmatch(name))


def exposed_name(server: str, tool: str) -> str:
    """The gateway's name for ``tool`` of ``server``: ``server__tool``, made valid."""
    name = f"{server}{SEPARATOR}{_INVALID_CHARS.sub('_', tool)}"
    if len(name) <= MAX_LENGTH:
        return name
    digest = hashlib.sha256(tool.encode()).hexdigest()[:8]
    return f"{name[: MAX_LENGTH - 9]}_{digest}"


def split(name: str) -> tuple[str, str] | None:
    """``(server, rest)`` of an exposed name, or None when it has no server part."""
    server, sep, rest = name.partition(SEPARATOR)
    return (server, rest) if sep and server and rest else None


def offered(tool: str, allow: Iterable[str], deny: Iterable[str]) -> bool:
    """Whether a server's allow and deny globs let ``tool`` (its own name) through.

    An empty allow list allows every tool; deny beats allow.
    """
    allow = list(allow)
    if any(fnmatch.fnmatchcase(tool, pattern) for pattern in deny):
        return False
    return not allow or any(fnmatch.fnmatchcase(tool, pattern) for pattern in allow)
