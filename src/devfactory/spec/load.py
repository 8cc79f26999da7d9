"""Read a spec file: YAML with positions, environment overlays, ``${VAR}`` interpolation.

:func:`load_spec_data` turns ``workspace.yaml`` (plus ``workspace.<env>.yaml`` and the
``environments:`` map when an environment is asked for) into plain data and a
:class:`SourceMap` that says where every value was written, so that every later complaint can
point at ``file:line:col``. Nothing here knows what a database is; the shapes are checked by
:mod:`devfactory.spec.validate`.

Only a safe subset of YAML is read: one document, no aliases (so no "billion laughs"), no
tags beyond the standard ones, at most :data:`MAX_BYTES` per file and :data:`MAX_DEPTH`
levels of nesting. Scalars follow the YAML 1.2 core schema: ``true``/``false`` are booleans
but ``yes``/``no``/``on``/``off`` stay text, and dates stay text (``2026-03-01``).

Example::

    loaded = load_spec_data(Path("workspace.yaml"), environment="dev", environ={})
    loaded.data["databases"]["clients"]["title"]                        # "[dev] Clients"
    str(loaded.source.locate(("databases", "clients", "title")))        # "workspace.dev.yaml:12:12"
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devfactory.errors import SpecError

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "Issue",
    "LoadedSpec",
    "Location",
    "PathItem",
    "SourceMap",
    "load_spec_data",
]

MAX_BYTES = 5 * 1024 * 1024
"""Largest spec or overlay file read, in bytes."""

MAX_DEPTH = 64
"""Deepest nesting of maps and lists accepted; keeps every later walk bounded."""

PathItem = str | int
"""One step of a path into the data: a mapping key or a list index."""

_ENV_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_YAML_PARSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS: dict[str, type] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "null": type(None),
}
_NULL = re.compile(r"~|null|Null|NULL|")
_TRUE = re.compile(r"true|True|TRUE")
_FALSE = re.compile(r"false|False|FALSE")
_INT = re.compile(r"[-+]?[0-9]+")
_INT_OCT = re.compile(r"0o[0-7]+")
_INT_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)")
_NAN = re.compile(r"\.(nan|NaN|NAN)")
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VARIABLE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)
_INTERPOLATION_HINT = "write ${NAME} or ${NAME:-default}; write $${ for a literal ${"


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a file, 1-based; ``str()`` gives ``file:line:col``."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem with a spec: where, what, and how to fix it.

    ``str()`` gives ``file:line:col: message — hint`` (parts that are empty are left out).
    """

    location: Location | None
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        return f"{text} — {self.hint}" if self.hint else text


@dataclass(frozen=True, slots=True)
class _Span:
    value: Location
    key: Location | None = None
    raw: str | None = None  # one-line source text of a string scalar, quotes included
    style: str | None = None


class SourceMap:
    """Where every value of a loaded spec came from, by path (``("databases", "x", "title")``).

    Paths may carry segments that are not keys of the data, such as the discriminator tags
    pydantic puts in its error locations (``…, "Budget", "number", "format"``): those are
    skipped, and a path that does not exist resolves to its nearest existing ancestor.
    """

    __slots__ = ("_spans",)

    def __init__(self, spans: Mapping[tuple[PathItem, ...], _Span]) -> None:
        self._spans = dict(spans)

    def __contains__(self, path: object) -> bool:
        return path in self._spans

    def resolve(self, path: Sequence[object]) -> tuple[PathItem, ...]:
        """The longest existing path made of ``path``'s segments, in order, skipping the rest."""
        found: tuple[PathItem, ...] = ()
        for segment in path:
            if not isinstance(segment, str | int) or isinstance(segment, bool):
                continue
            candidate = (*found, segment)
            if candidate in self._spans:
                found = candidate
        return found

    def locate(self, path: Sequence[object]) -> Location | None:
        """Where the value at ``path`` (or its nearest ancestor) starts."""
        span = self._spans.get(self.resolve(path))
        return span.value if span else None

    def locate_key(self, path: Sequence[object]) -> Location | None:
        """Where the key of the entry at ``path`` (or its nearest ancestor) is written.

        List items and the document itself have no key: their value's place is given.
        """
        span = self._spans.get(self.resolve(path))
        if span is None:
            return None
        return span.key or span.value

    def locate_offset(self, path: Sequence[object], offset: int | None) -> Location | None:
        """Where character ``offset`` of the string at exactly ``path`` is written.

        Exact when the string sits on one line of the file and was not interpolated;
        otherwise (and when ``offset`` is None) the start of the value.
        """
        resolved = self.resolve(path)
        span = self._spans.get(resolved)
        if span is None:
            return None
        if offset is None or span.raw is None or resolved != tuple(path):
            return span.value
        column = _source_column(span.raw, span.style, offset)
        if column is None:
            return span.value
        return Location(span.value.file, span.value.line, span.value.column + column)

    def paths(self) -> Iterator[tuple[PathItem, ...]]:
        """Every path with a known place."""
        return iter(self._spans)


@dataclass(frozen=True)
class LoadedSpec:
    """A spec read from disk: the merged, interpolated data and where each value came from.

    ``files`` are the files read (the spec first, then its overlay if one was used).
    """

    data: dict[str, Any]
    source: SourceMap
    files: tuple[Path, ...]
    environment: str | None = None

    @property
    def path(self) -> Path:
        """The spec file itself."""
        return self.files[0]


def load_spec_data(
    path: Path,
    *,
    environment: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedSpec:
    """Read the spec at ``path`` for ``environment``; raise :class:`SpecError` with every issue.

    With an environment, ``<stem>.<environment>.yaml`` next to the spec (if it exists) is
    deep-merged over the spec, then ``environments[environment]`` of the result is merged
    over that: maps merge key by key, lists and scalars replace. The ``environments`` key is
    dropped from the result. ``${VAR}`` and ``${VAR:-default}`` in string values are then
    replaced from ``environ`` (default ``os.environ``); ``$${`` is a literal ``${``.
    """
    env = os.environ if environ is None else environ
    issues: list[Issue] = []
    files = [path]
    base = _read_yaml(path, issues)
    overlay: _Node | None = None
    overlay_path: Path | None = None
    if environment is not None:
        if _ENV_NAME.fullmatch(environment):
            overlay_path = _overlay_path(path, environment)
            if overlay_path.is_file():
                files.append(overlay_path)
                overlay = _read_yaml(overlay_path, issues)
        else:
            issues.append(
                Issue(
                    None,
                    f"invalid environment name {environment!r}",
                    "use lowercase letters, digits, '-' and '_', starting with a letter",
                )
            )
    if base is None or (len(files) > 1 and overlay is None):
        raise SpecError(issues)
    merged = _merge(base, overlay) if overlay is not None else base
    merged, environments, where = _take_environments(merged, issues)
    if environment is not None and overlay_path is not None:
        chosen = environments.get(environment)
        if chosen is not None:
            merged = _merge(merged, chosen)
        elif overlay is None:
            known = sorted(set(environments) | _overlay_environments(path))
            issues.append(
                Issue(
                    where or Location(str(path), 1, 1),
                    f"unknown environment {environment!r}",
                    f"known environments: {', '.join(known)}"
                    if known
                    else f"add {overlay_path.name} next to the spec, or an "
                    f"`environments: {{{environment}: …}}` map",
                )
            )
    merged = _interpolate(merged, env, issues)
    if issues:
        raise SpecError(issues)
    spans: dict[tuple[PathItem, ...], _Span] = {}
    data = _flatten(merged, (), spans)
    return LoadedSpec(data, SourceMap(spans), tuple(files), environment)


# ----------------------------------------------------------------------------- reading


@dataclass(slots=True)
class _Node:
    value: Any  # dict[str, _Node] | list[_Node] | str | int | float | bool | None
    loc: Location
    key: Location | None = None
    raw: str | None = None
    style: str | None = None
    text: str | None = None  # a scalar's text as written (unescaped), used when it is a key


@dataclass(slots=True)
class _Frame:
    node: _Node
    pending_key: str | None = None
    pending_loc: Location | None = None
    has_key: bool = False
    key_lines: dict[str, int] = field(default_factory=dict)


class _Stop(Exception):
    """Ends reading a file after an issue that makes the rest meaningless."""


def _overlay_path(path: Path, environment: str) -> Path:
    suffix = path.suffix if path.suffix in (".yaml", ".yml") else ".yaml"
    return path.with_name(f"{path.stem}.{environment}{suffix}")


def _overlay_environments(path: Path) -> set[str]:
    suffix = path.suffix if path.suffix in (".yaml", ".yml") else ".yaml"
    found: set[str] = set()
    for candidate in path.parent.glob(f"{path.stem}.*{suffix}"):
        middle = candidate.name[len(path.stem) + 1 : -len(suffix)]
        if _ENV_NAME.fullmatch(middle):
            found.add(middle)
    return found


def _read_yaml(path: Path, issues: list[Issue]) -> _Node | None:
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            issues.append(
                Issue(
                    Location(name, 1, 1),
                    f"file is too large ({size} bytes, limit {MAX_BYTES})",
                    "split seed rows into a smaller spec; a spec describes a schema",
                )
            )
            return None
        content = path.read_bytes()
    except OSError as exc:
        issues.append(
            Issue(
                None, f"cannot read {name}: {exc.strerror or exc}", "check the path and permissions"
            )
        )
        return None
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        column = exc.start - (content.rfind(b"\n", 0, exc.start) + 1) + 1
        issues.append(
            Issue(Location(name, line, column), "file is not valid UTF-8", "save it as UTF-8")
        )
        return None
    return _parse_yaml(text, name, issues)


def _parse_yaml(text: str, file: str, issues: list[Issue]) -> _Node | None:
    """Parse ``text`` into a located tree, appending to ``issues``; None if it cannot be read.

    Duplicate keys, aliases and unsupported tags are reported and the reading goes on (the
    offending entry is left out); syntax errors end it.
    """
    reader = _TreeReader(text, file)
    try:
        reader.read()
    except _Stop:
        issues.extend(reader.issues)
        return None
    except yaml.YAMLError as exc:
        issues.extend(reader.issues)
        issues.append(_syntax_issue(exc, text, file))
        return None
    issues.extend(reader.issues)
    root = reader.root
    if root is None:
        root = _Node(None, Location(file, 1, 1))
    if not isinstance(root.value, dict):
        issues.append(
            Issue(
                root.loc,
                "a spec file is a YAML mapping",
                "start with `apiVersion: devfactory/v1`, `workspace:` and `databases:`",
            )
        )
        return None
    return root


def _syntax_issue(exc: yaml.YAMLError, text: str, file: str) -> Issue:
    hint = "fix the YAML syntax here; quote text that contains ': ', ' #' or starts with a symbol"
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if mark is not None:
        message = f"invalid YAML: {problem or 'syntax error'}"
        context_mark = getattr(exc, "context_mark", None)
        if context and context_mark is not None:
            message += f" ({context} started at line {context_mark.line + 1})"
        return Issue(Location(file, mark.line + 1, mark.column + 1), message, hint)
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        reason = getattr(exc, "reason", "unreadable character")
        return Issue(
            Location(file, line, column),
            f"invalid YAML: {reason}",
            "remove control characters; write them as escapes inside double quotes",
        )
    return Issue(Location(file, 1, 1), f"invalid YAML: {exc}", hint)


class _TreeReader:
    """Builds the located tree from parser events, without recursion."""

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.issues: list[Issue] = []
        self.root: _Node | None = None
        self.stack: list[_Frame] = []
        self.documents = 0

    def location(self, mark: Any) -> Location:
        return Location(self.file, mark.line + 1, mark.column + 1)

    def read(self) -> None:
        for event in yaml.parse(self.text, Loader=_YAML_PARSER):
            if isinstance(event, yaml.DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    self.issues.append(
                        Issue(
                            self.location(event.start_mark),
                            "a spec file holds one YAML document",
                            "remove the second `---` and what follows, or move it to its own file",
                        )
                    )
                    raise _Stop
            elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                self.check_tag(event, "map" if isinstance(event, yaml.MappingStartEvent) else "seq")
                container: dict[str, _Node] | list[_Node] = (
                    {} if isinstance(event, yaml.MappingStartEvent) else []
                )
                self.stack.append(_Frame(_Node(container, self.location(event.start_mark))))
                if len(self.stack) > MAX_DEPTH:
                    self.issues.append(
                        Issue(
                            self.location(event.start_mark),
                            f"nesting is deeper than {MAX_DEPTH} levels",
                            "flatten the structure; a spec never needs this depth",
                        )
                    )
                    raise _Stop
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                self.deliver(self.stack.pop().node)
            elif isinstance(event, yaml.ScalarEvent):
                self.deliver(self.scalar(event))
            elif isinstance(event, yaml.AliasEvent):
                self.issues.append(
                    Issue(
                        self.location(event.start_mark),
                        f"YAML aliases are not supported (*{event.anchor})",
                        "repeat the value instead, or use environments/overlays for variants",
                    )
                )
                self.deliver(_Node(None, self.location(event.start_mark)))

    def check_tag(self, event: Any, kind: str) -> bool:
        tag = event.tag
        if tag is None or tag == "!" or tag == _STD + kind:
            return True
        self.issues.append(
            Issue(
                self.location(event.start_mark),
                f"YAML tag {tag!r} is not supported",
                "remove the tag; a spec uses plain YAML values",
            )
        )
        return False

    def scalar(self, event: yaml.ScalarEvent) -> _Node:
        loc = self.location(event.start_mark)
        value: Any = event.value
        tag = event.tag
        if tag is not None and tag != "!":
            kind = tag[len(_STD) :] if tag.startswith(_STD) else ""
            if kind in _SCALAR_TAGS:
                value = self.tagged(event, kind, loc)
            else:
                self.check_tag(event, "str")
        elif tag is None and not event.style and event.implicit[0]:
            value = _plain_value(event.value)
        # libyaml says '' where PyYAML says None for a plain scalar
        node = _Node(value, loc, style=event.style or None, text=event.value)
        start, end = event.start_mark, event.end_mark
        if isinstance(value, str) and start and end and start.line == end.line:
            node.raw = self.text[start.index : end.index]
        return node

    def tagged(self, event: yaml.ScalarEvent, kind: str, loc: Location) -> Any:
        text = event.value
        if kind == "str":
            return text
        value = _plain_value(text)
        if kind == "float" and type(value) is int:
            return float(value)
        if type(value) is not _SCALAR_TAGS[kind]:
            self.issues.append(
                Issue(
                    loc, f"{text!r} cannot be read as !!{kind}", "remove the tag or fix the value"
                )
            )
        return value

    def deliver(self, node: _Node) -> None:
        if not self.stack:
            self.root = node
            return
        frame = self.stack[-1]
        container = frame.node.value
        if isinstance(container, list):
            container.append(node)
            return
        if not frame.has_key:
            frame.has_key = True
            frame.pending_loc = node.loc
            if isinstance(node.value, dict | list):
                frame.pending_key = None
                self.issues.append(
                    Issue(node.loc, "only text keys are supported", "use a plain name as the key")
                )
            else:
                frame.pending_key = node.text if node.text is not None else ""
            return
        frame.has_key = False
        key, key_loc = frame.pending_key, frame.pending_loc
        if key is None or key_loc is None:
            return
        if key in container:
            self.issues.append(
                Issue(
                    key_loc,
                    f"duplicate key {key!r} (first defined on line {frame.key_lines[key]})",
                    "remove one of them; YAML keys must be unique within a mapping",
                )
            )
            return
        node.key = key_loc
        container[key] = node
        frame.key_lines[key] = key_loc.line


def _plain_value(text: str) -> Any:
    if _NULL.fullmatch(text):
        return None
    if _TRUE.fullmatch(text):
        return True
    if _FALSE.fullmatch(text):
        return False
    try:
        if _INT.fullmatch(text):
            return int(text)
        if _INT_OCT.fullmatch(text):
            return int(text[2:], 8)
        if _INT_HEX.fullmatch(text):
            return int(text[2:], 16)
    except ValueError:  # more digits than Python converts (sys.int_info.str_digits_check_threshold)
        return text
    if _FLOAT.fullmatch(text):
        return float(text)
    if _INF.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.fullmatch(text):
        return math.nan
    return text


def _source_column(raw: str, style: str | None, offset: int) -> int | None:
    """Column (0-based, from the scalar's start) of value character ``offset``."""
    if style is None:
        return offset if offset <= len(raw) else None
    if style not in ("'", '"') or len(raw) < 2:
        return None
    index, seen, end = 1, 0, len(raw) - 1
    while index < end:
        if seen == offset:
            return index
        step = 1
        if style == "'" and raw.startswith("''", index):
            step = 2
        elif style == '"' and raw[index] == "\\" and index + 1 < end:
            step = {"x": 4, "u": 6, "U": 10}.get(raw[index + 1], 2)
        index += step
        seen += 1
    return index if seen == offset else None


# ------------------------------------------------------------------ merging and interpolation


def _merge(base: _Node, over: _Node) -> _Node:
    """``over`` deep-merged onto ``base``: maps merge, anything else replaces."""
    if isinstance(base.value, dict) and isinstance(over.value, dict):
        merged = dict(base.value)
        for key, value in over.value.items():
            merged[key] = _merge(merged[key], value) if key in merged else value
        return _Node(merged, base.loc, base.key)
    return _Node(
        over.value, over.loc, base.key if over.key is None else over.key, over.raw, over.style
    )


def _take_environments(
    root: _Node, issues: list[Issue]
) -> tuple[_Node, dict[str, _Node], Location | None]:
    """The spec without ``environments``, the overlays by name, and where the map is."""
    values: dict[str, _Node] = dict(root.value)
    node = values.pop("environments", None)
    root = _Node(values, root.loc, root.key)
    if node is None or node.value is None:
        return root, {}, node.key if node else None
    if not isinstance(node.value, dict):
        issues.append(
            Issue(
                node.loc,
                "`environments` must be a map of environment name to overlay",
                "write `environments: {prod: {databases: …}}`",
            )
        )
        return root, {}, node.key
    found: dict[str, _Node] = {}
    for name, overlay in node.value.items():
        if not _ENV_NAME.fullmatch(name):
            issues.append(
                Issue(
                    overlay.key,
                    f"invalid environment name {name!r}",
                    "use lowercase letters, digits, '-' and '_', starting with a letter",
                )
            )
        elif overlay.value is None:
            found[name] = _Node({}, overlay.loc, overlay.key)
        elif not isinstance(overlay.value, dict):
            issues.append(
                Issue(
                    overlay.loc,
                    f"environment {name!r} must be a map merged over the spec",
                    "write keys as in the spec, e.g. `databases: {clients: {protect: false}}`",
                )
            )
        else:
            found[name] = overlay
    return root, found, node.key


def _interpolate(node: _Node, environ: Mapping[str, str], issues: list[Issue]) -> _Node:
    value = node.value
    if isinstance(value, dict):
        items = {key: _interpolate(child, environ, issues) for key, child in value.items()}
        return _Node(items, node.loc, node.key)
    if isinstance(value, list):
        return _Node([_interpolate(child, environ, issues) for child in value], node.loc, node.key)
    if not isinstance(value, str) or "$" not in value:
        return node
    text, problems = interpolate(value, environ)
    for offset, message in problems:
        column = _source_column(node.raw, node.style, offset) if node.raw is not None else None
        loc = (
            node.loc
            if column is None
            else Location(node.loc.file, node.loc.line, node.loc.column + column)
        )
        issues.append(Issue(loc, message, _INTERPOLATION_HINT))
    if text == value:
        return node
    return _Node(text, node.loc, node.key)


def interpolate(text: str, environ: Mapping[str, str]) -> tuple[str, list[tuple[int, str]]]:
    """``text`` with ``${VAR}``/``${VAR:-default}`` replaced; problems as (offset, message).

    ``${VAR:-default}`` uses the default when ``VAR`` is unset or empty; ``$${`` gives ``${``.
    """
    parts: list[str] = []
    problems: list[tuple[int, str]] = []
    last = 0
    for match in _REFERENCE.finditer(text):
        parts.append(text[last : match.start()])
        last = match.end()
        token = match.group(0)
        if token == "$${":
            parts.append("${")
            continue
        body = match.group(1)
        variable = _VARIABLE.fullmatch(body) if body is not None else None
        if body is None:
            problems.append((match.start(), "unterminated '${' (no closing '}')"))
        elif variable is None:
            problems.append((match.start(), f"invalid variable reference '{token}'"))
        else:
            name, default = variable.group(1), variable.group(2)
            current = environ.get(name)
            if default is not None and not current:
                parts.append(default)
            elif current is not None:
                parts.append(current)
            else:
                problems.append((match.start(), f"environment variable {name} is not set"))
    parts.append(text[last:])
    return "".join(parts), problems


def _flatten(
    node: _Node, path: tuple[PathItem, ...], spans: dict[tuple[PathItem, ...], _Span]
) -> Any:
    spans[path] = _Span(node.loc, node.key, node.raw, node.style)
    value = node.value
    if isinstance(value, dict):
        return {key: _flatten(child, (*path, key), spans) for key, child in value.items()}
    if isinstance(value, list):
        return [_flatten(child, (*path, index), spans) for index, child in enumerate(value)]
    return value
