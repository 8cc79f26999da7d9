"""Request validation with Notion's messages: every failure names the exact body path.

Notion answers a malformed request with 400 ``validation_error`` and a message such as
``body failed validation: body.children[1].paragraph.rich_text[0].text.content.length should
be ≤ `2000`, instead was `2001`.`` The helpers here check one value each and raise
:class:`~devfactory.errors.NotionValidationError` in that form, so handlers read as a list
of expectations and clients get messages they can act on.
"""

from __future__ import annotations

from typing import Any, Final, NoReturn

import orjson

from devfactory.emulator.ids import parse_id
from devfactory.errors import NotionValidationError

__all__ = [
    "UNDEFINED",
    "array",
    "boolean",
    "choice",
    "describe",
    "fail",
    "id_value",
    "integer",
    "member",
    "number",
    "obj",
    "optional",
    "path_id",
    "string",
]


class _Undefined:
    """Marker for a key that is absent (Notion calls it ``undefined``)."""

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Final = _Undefined()
MAX_DESCRIBE = 120


def describe(value: Any) -> str:
    """The value as Notion quotes it in messages: JSON, or ``undefined``; long ones cut."""
    if value is UNDEFINED:
        return "undefined"
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= MAX_DESCRIBE else text[: MAX_DESCRIBE - 1] + "…"


def fail(path: str, expectation: str, value: Any) -> NoReturn:
    """Raise Notion's validation error for ``path`` (which starts with body/path/query)."""
    where = path.split(".", 1)[0].split("[", 1)[0]
    raise NotionValidationError(
        f"{where} failed validation: {path} {expectation}, instead was `{describe(value)}`."
    )


def member(container: dict[str, Any], key: str, path: str) -> Any:
    """``container[key]``; a missing key fails with "should be defined"."""
    value = container.get(key, UNDEFINED)
    if value is UNDEFINED:
        fail(f"{path}.{key}", "should be defined", UNDEFINED)
    return value


def optional(container: dict[str, Any], key: str) -> Any:
    """``container[key]`` or :data:`UNDEFINED`."""
    return container.get(key, UNDEFINED)


def obj(value: Any, path: str) -> dict[str, Any]:
    """A JSON object."""
    if not isinstance(value, dict):
        fail(path, "should be an object", value)
    return value


def array(value: Any, path: str, *, max_items: int | None = 100) -> list[Any]:
    """A JSON array of at most ``max_items`` elements (Notion's limit is 100)."""
    if not isinstance(value, list):
        fail(path, "should be an array", value)
    if max_items is not None and len(value) > max_items:
        fail(f"{path}.length", f"should be ≤ `{max_items}`", len(value))
    return value


def string(value: Any, path: str, *, max_length: int | None = None, min_length: int = 0) -> str:
    """A JSON string, optionally bounded in length."""
    if not isinstance(value, str):
        fail(path, "should be a string", value)
    if max_length is not None and len(value) > max_length:
        fail(f"{path}.length", f"should be ≤ `{max_length}`", len(value))
    if len(value) < min_length:
        fail(f"{path}.length", f"should be ≥ `{min_length}`", len(value))
    return value


def boolean(value: Any, path: str) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        fail(path, "should be a boolean", value)
    return value


def number(value: Any, path: str) -> int | float:
    """A finite JSON number (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(path, "should be a number", value)
    result: int | float = value
    if result != result or result in (float("inf"), float("-inf")):
        fail(path, "should be a finite number", value)
    return result


def integer(
    value: Any, path: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """A JSON integer within bounds."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            fail(path, "should be an integer", value)
    if minimum is not None and value < minimum:
        fail(path, f"should be ≥ `{minimum}`", value)
    if maximum is not None and value > maximum:
        fail(path, f"should be ≤ `{maximum}`", value)
    return int(value)


def choice(value: Any, path: str, choices: tuple[str, ...] | frozenset[str]) -> str:
    """One of a fixed set of strings."""
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(f'`"{c}"`' for c in sorted(choices))
        fail(
            path,
            f"should be one of {listed}" if len(choices) < 12 else "should be a known value",
            value,
        )
    return value


def id_value(value: Any, path: str) -> str:
    """An object id in the body; canonical dashed form."""
    if not isinstance(value, str):
        fail(path, "should be a valid uuid", value)
    canonical = parse_id(value)
    if canonical is None:
        fail(path, "should be a valid uuid", value)
    return canonical


def path_id(value: str, name: str) -> str:
    """An object id in the URL path, e.g. ``path.page_id``."""
    return id_value(value, f"path.{name}")
