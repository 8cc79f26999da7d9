"""Custom validation rules: plugins that look at a valid spec and report what they dislike.

A rule is any callable taking the :class:`~devfactory.spec.model.Spec` and returning (or
yielding) :class:`RuleViolation` objects; ``path`` points into the spec as written, so the
violation is reported at its ``file:line:col``::

    from devfactory.spec.rules import RuleViolation, rule

    @rule
    def every_database_has_an_icon(spec):
        for key, database in spec.databases.items():
            if database.icon is None:
                yield RuleViolation(("databases", key), "database has no icon", "add `icon:`")

Rules come from three places, in this order: the entry point group ``devfactory.rules`` of
installed packages (an entry point names a rule function, or a module whose rules are all
taken), the Python files listed under ``rules:`` in the spec (paths relative to the spec;
their top-level functions named ``rule_*`` or decorated with :func:`rule`), and the
``extra_rules`` passed to :func:`~devfactory.spec.validate.validate_spec`.

A rule that cannot be loaded, raises, or returns something else than violations becomes an
issue naming the rule; it never ends validation with a traceback. Rules files are Python
code run at validation time: only list files you trust, as you would a ``conftest.py``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
import traceback
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from devfactory.spec.load import Issue, Location, PathItem, SourceMap
from devfactory.spec.model import Spec

__all__ = [
    "RULE_GROUP",
    "NamedRule",
    "Rule",
    "RuleViolation",
    "entry_point_rules",
    "file_rules",
    "named_rule",
    "rule",
    "run_rule",
]

RULE_GROUP = "devfactory.rules"
"""The entry point group that installed packages register rules in."""

_MARK = "__devfactory_rule__"
_HINT = "fix the rule, or remove it from the spec's `rules:` or its package's entry points"


@dataclass(frozen=True, slots=True)
class RuleViolation:
    """What a rule reports: where in the spec (a path of keys and list indexes), what, and how
    to fix it. ``("databases", "clients", "properties", "Name")`` points at that property."""

    path: tuple[PathItem, ...]
    message: str
    hint: str = ""


Rule = Callable[[Spec], Iterable[RuleViolation]]
"""A rule: the spec in, violations out (an empty iterable, or None, when all is well)."""

_F = TypeVar("_F", bound=Callable[..., Any])


def rule(func: _F) -> _F:
    """Mark ``func`` as a rule in a rules file, whatever its name."""
    setattr(func, _MARK, True)
    return func


@dataclass(frozen=True, slots=True)
class NamedRule:
    """A rule with the name issues give it and where it is defined (for rules that fail)."""

    name: str
    func: Rule
    origin: Location | None = None


def named_rule(func: Rule, name: str | None = None) -> NamedRule:
    """``func`` as a :class:`NamedRule`, named after the function unless ``name`` is given."""
    return NamedRule(name or str(getattr(func, "__name__", repr(func))), func, _origin(func))


def entry_point_rules() -> tuple[list[NamedRule], list[Issue]]:
    """The rules that installed packages register under :data:`RULE_GROUP`, and load errors."""
    rules: list[NamedRule] = []
    issues: list[Issue] = []
    for entry in sorted(metadata.entry_points(group=RULE_GROUP), key=lambda e: e.name):
        try:
            target = entry.load()
        except (Exception, SystemExit) as exc:
            issues.append(
                Issue(
                    None,
                    f"cannot load rules entry point {entry.name!r} ({entry.value}): "
                    f"{_describe(exc)}",
                    "fix or uninstall the package that provides it",
                )
            )
            continue
        if isinstance(target, types.ModuleType):
            rules.extend(
                NamedRule(f"{entry.name}.{func.__name__}", func, _origin(func))
                for func in _module_rules(target)
            )
        elif callable(target):
            rules.append(NamedRule(entry.name, target, _origin(target)))
        else:
            issues.append(
                Issue(
                    None,
                    f"rules entry point {entry.name!r} ({entry.value}) is neither a function "
                    "nor a module",
                    "point the entry point at a rule function or a module of rules",
                )
            )
    return rules, issues


def file_rules(
    path: Path, *, location: Location | None = None
) -> tuple[list[NamedRule], list[Issue]]:
    """The rules defined in the Python file at ``path``, and any problem importing it.

    ``location`` is where the spec lists the file, for the issue when it is missing.
    """
    if path.suffix != ".py":
        return [], [
            Issue(location, f"rules file {str(path)!r} is not a .py file", "list Python files only")
        ]
    if not path.is_file():
        return [], [
            Issue(
                location,
                f"rules file {str(path)!r} does not exist",
                "paths under `rules:` are relative to the spec file",
            )
        ]
    digest = hashlib.sha1(str(path.resolve()).encode(), usedforsecurity=False).hexdigest()[:12]
    name = f"_devfactory_rules_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - any existing file has a loader
        return [], [Issue(location, f"cannot import rules file {str(path)!r}", _HINT)]
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling in the rules file look it up
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        sys.modules.pop(name, None)
        where = _failure_location(exc, path) or location
        return [], [
            Issue(where, f"rules file {path.name} failed to import: {_describe(exc)}", _HINT)
        ]
    found = [
        NamedRule(f"{path.name}:{f.__name__}", f, _origin(f, path)) for f in _module_rules(module)
    ]
    return found, []


def run_rule(named: NamedRule, spec: Spec, source: SourceMap) -> list[Issue]:
    """Run one rule over ``spec``; its violations, or its failure, as issues."""
    issues: list[Issue] = []
    try:
        result: Any = named.func(spec)  # a plugin may return anything; checked below
        violations: list[Any] = list(result) if result is not None else []
    except (Exception, SystemExit) as exc:
        file = Path(named.origin.file) if named.origin else None
        where = (_failure_location(exc, file) if file else None) or named.origin
        return [Issue(where, f"rule {named.name} failed: {_describe(exc)}", _HINT)]
    for violation in violations:
        if not isinstance(violation, RuleViolation):
            issues.append(
                Issue(
                    named.origin,
                    f"rule {named.name} returned {type(violation).__name__}, not a RuleViolation",
                    "return or yield devfactory.spec.rules.RuleViolation(path, message, hint)",
                )
            )
            continue
        path: Any = violation.path  # plugins are not type-checked: take what they give
        if isinstance(path, str):
            path = (path,)
        elif not isinstance(path, Sequence):
            path = ()
        issues.append(
            Issue(source.locate(path), f"{violation.message} [{named.name}]", violation.hint)
        )
    return issues


def _module_rules(module: types.ModuleType) -> list[Rule]:
    """Functions defined in ``module`` itself named ``rule_*`` or marked with :func:`rule`."""
    found: list[Rule] = []
    for attribute, value in vars(module).items():
        if not inspect.isfunction(value) or value.__module__ != module.__name__:
            continue
        if attribute.startswith("rule_") or getattr(value, _MARK, False):
            found.append(value)
    return found


def _origin(func: Callable[..., Any], file: Path | None = None) -> Location | None:
    """Where ``func`` is defined; in ``file`` as the spec names it, when it is defined there."""
    code = getattr(func, "__code__", None)
    if code is None:
        return None
    name = (
        str(file) if file is not None and _same_file(code.co_filename, file) else code.co_filename
    )
    return Location(name, code.co_firstlineno, 1)


def _same_file(name: str, file: Path) -> bool:
    try:
        return Path(name).resolve() == file.resolve()
    except OSError:  # pragma: no cover - unresolvable names such as "<string>"
        return False


def _failure_location(exc: BaseException, file: Path) -> Location | None:
    """The innermost line of ``file`` that the exception went through."""
    if isinstance(exc, SyntaxError) and exc.filename and _same_file(exc.filename, file):
        return Location(str(file), exc.lineno or 1, exc.offset or 1)
    found: Location | None = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if _same_file(frame.filename, file):
            found = Location(str(file), frame.lineno or 1, (frame.colno or 0) + 1)
    return found


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
