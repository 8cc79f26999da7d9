"""Ids as Notion makes and checks them: UUIDs for objects, short URL-encoded property ids."""

from __future__ import annotations

import re
import secrets
import uuid
from urllib.parse import quote

__all__ = [
    "NIL_ID",
    "compact",
    "new_id",
    "new_option_id",
    "new_property_id",
    "parse_id",
]

NIL_ID = "00000000-0000-0000-0000-000000000000"
_HEX = "[0-9a-fA-F]"
_UUID_RE = re.compile(
    f"^({_HEX}{{8}})-?({_HEX}{{4}})-?({_HEX}{{4}})-?({_HEX}{{4}})-?({_HEX}{{12}})$"
)
# Characters Notion uses in property ids before URL-encoding them (e.g. ";A?a" -> "%3BA%3Fa").
_PROP_ALPHABET = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&()*+,-./:;<=>?@[]^_`{|}~"
)


def parse_id(raw: str) -> str | None:
    """Canonical dashed lower-case form of a Notion id, or None when ``raw`` is not one.

    Notion accepts ids with or without dashes, and is strict about the RFC 4122 variant
    (``12345678-1234-1234-1234-123456789abc`` is rejected); the nil id is accepted, so asking
    for it gives a 404 rather than a 400.
    """
    match = _UUID_RE.match(raw)
    if match is None:
        return None
    canonical = "-".join(match.groups()).lower()
    if canonical != NIL_ID and canonical[19] not in "89ab":
        return None
    return canonical


def new_id() -> str:
    """A fresh object id."""
    return str(uuid.uuid4())


def compact(object_id: str) -> str:
    """The id without dashes, as Notion puts it in URLs."""
    return object_id.replace("-", "")


def new_property_id(taken: set[str] | frozenset[str]) -> str:
    """A short URL-encoded property id not in ``taken`` (the title's id is always "title")."""
    while True:
        candidate = quote("".join(secrets.choice(_PROP_ALPHABET) for _ in range(4)), safe="")
        if candidate not in taken and candidate != "title":
            return candidate


def new_option_id() -> str:
    """A fresh select / multi_select / status option id."""
    return str(uuid.uuid4())
