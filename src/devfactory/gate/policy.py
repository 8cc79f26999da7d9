"""The call the gate judges, and the policy file that classifies and rules on it.

A :class:`ToolCall` is what an agent (or the deploy engine) is about to do: a tool on a
server, its arguments, the MCP annotations the server declared, the ``_meta`` the agent sent
(``rationale``, ``confidence``) and a ``context`` of facts the caller observed for the
signals (``affected``, ``matches``, ``has_backup``, ``validation_errors``, ``recent_errors``,
``drift``).

A :class:`Policy` is read from YAML (see ``examples/policy.yaml`` and ``docs/gate.md``)::

    defaults: {read: allow, write: allow, destructive: halt, approval_ttl: 1h}
    rules:
      - match: "filesystem__read_*"
        risk: read
      - match: {tool: "filesystem__write_file"}
        when: {path: {glob: "/etc/**"}}
        decision: deny
        reason: system configuration is off limits

Every rule whose ``match`` and ``when`` hold applies: ``deny`` beats ``halt`` beats ``allow``,
and the most dangerous ``risk`` wins. A tool no rule classifies takes its class from its
annotations (a prior only), and without annotations counts as destructive.

Example::

    policy = load_policy(Path("examples/policy.yaml"))
    verdict = policy.assess(ToolCall("filesystem", "filesystem__write_file", {"path": "/etc/x"}))
    verdict.decision   # "deny"
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from devfactory.errors import PolicyError, SpecError
from devfactory.spec.load import Issue, Location, SourceMap, load_spec_data

__all__ = [
    "RISKS",
    "VERDICTS",
    "Assessment",
    "Defaults",
    "Policy",
    "Risk",
    "Rule",
    "ToolCall",
    "Verdict",
    "load_policy",
]

Risk = Literal["read", "write", "destructive"]
Verdict = Literal["allow", "halt", "deny"]
RISKS: tuple[Risk, ...] = ("read", "write", "destructive")
"""Risk classes, least dangerous first."""
VERDICTS: tuple[Verdict, ...] = ("allow", "halt", "deny")
"""Decisions, weakest first: a stronger one always wins."""

_RISK_RANK = {name: rank for rank, name in enumerate(RISKS)}
_VERDICT_RANK = {name: rank for rank, name in enumerate(VERDICTS)}
_CACHE_LIMIT = 4096
_DEFAULT_TTL = 3600.0


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call about to run; serialisable with :meth:`to_json` / :meth:`from_json`.

    ``arguments`` is a mapping, or the raw text the agent sent when it could not be parsed.
    ``input_schema`` is the tool's JSON Schema when the caller knows it (checked: ``type``,
    ``required``, ``properties`` types and ``enum``, ``additionalProperties: false``).

    Example (a deploy step)::

        ToolCall("deploy", "deploy.remove_property", {"database": "tasks", "property": "Due"},
                 annotations={"destructiveHint": True}, context={"affected": 120})
    """

    server: str
    tool: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    annotations: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    input_schema: Mapping[str, Any] | None = None

    def parsed_arguments(self) -> tuple[dict[str, Any] | None, str | None]:
        """The arguments as a dict, or ``None`` and why they cannot be used."""
        args: object = self.arguments
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except json.JSONDecodeError as exc:
                return None, f"arguments are not JSON ({exc.msg} at {exc.pos})"
        if not isinstance(args, Mapping):
            return None, f"arguments are a JSON {type(args).__name__}, not an object"
        parsed = dict(args)
        if self.input_schema is not None:
            problem = _schema_problem(parsed, self.input_schema)
            if problem is not None:
                return None, f"arguments do not fit the tool's schema: {problem}"
        return parsed, None

    def fingerprint(self) -> str:
        """A hash of server, tool and the canonical arguments: the same call, the same value."""
        args = self.arguments
        body = args if isinstance(args, str) else _canonical(args)
        digest = hashlib.sha256(f"{self.server}\0{self.tool}\0{body}".encode())
        return digest.hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (inverse of :meth:`from_dict`)."""
        data: dict[str, Any] = {
            "server": self.server,
            "tool": self.tool,
            "arguments": self.arguments
            if isinstance(self.arguments, str)
            else dict(self.arguments),
            "annotations": dict(self.annotations),
            "meta": dict(self.meta),
            "context": dict(self.context),
        }
        if self.input_schema is not None:
            data["input_schema"] = dict(self.input_schema)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        """A call from :meth:`to_dict` data (``server`` and ``tool`` are required)."""
        arguments = data.get("arguments", {})
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, str | Mapping):
            arguments = json.dumps(arguments)  # keep it, as unparseable text
        return cls(
            server=str(data["server"]),
            tool=str(data["tool"]),
            arguments=arguments,
            annotations=dict(data.get("annotations") or {}),
            meta=dict(data.get("meta") or data.get("_meta") or {}),
            context=dict(data.get("context") or {}),
            input_schema=data.get("input_schema"),
        )

    def to_json(self) -> str:
        """The call as compact JSON."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, text: str) -> ToolCall:
        """The call from :meth:`to_json` text."""
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True, slots=True)
class Defaults:
    """What the gate does when no rule decides, and the thresholds of the signals."""

    read: Verdict = "allow"
    write: Verdict = "allow"
    destructive: Verdict = "halt"
    approval_ttl: float = _DEFAULT_TTL
    blast_radius: int = 20
    confidence: float = 0.7
    error_streak: int = 3

    def verdict_for(self, risk: Risk) -> Verdict:
        """The default decision for a call of this risk class with nothing else against it."""
        return cast(Verdict, getattr(self, risk))


@dataclass(frozen=True, slots=True)
class _Predicate:
    path: tuple[str, ...]
    test: Callable[[Any], bool]
    exists: bool | None = None

    def holds(self, args: Mapping[str, Any]) -> bool:
        found, value = _lookup(args, self.path)
        if self.exists is not None:
            return found == self.exists
        return found and self.test(value)


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of a policy; ``where`` is its ``file:line:col`` (or ``rules[i]``)."""

    where: str
    tools: tuple[str, ...]
    servers: tuple[str, ...]
    when: tuple[_Predicate, ...] = ()
    decision: Verdict | None = None
    risk: Risk | None = None
    reversible: bool | None = None
    reason: str = ""
    _tool_re: re.Pattern[str] | None = None
    _server_re: re.Pattern[str] | None = None

    def names(self, server: str, tool: str) -> bool:
        """Whether ``match`` covers this tool on this server (arguments aside)."""
        if self._tool_re is not None and self._tool_re.match(tool) is None:
            return False
        return self._server_re is None or self._server_re.match(server) is not None

    def applies(self, args: Mapping[str, Any] | None) -> bool:
        """Whether every ``when`` predicate holds (no predicate holds on unusable arguments)."""
        if not self.when:
            return True
        if args is None:
            return False
        return all(p.holds(args) for p in self.when)


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the policy says about one call: the facts signals read, and its own verdict.

    ``decision`` is ``None`` when no rule decides; ``risk_source`` says where ``risk`` came
    from (``policy``, ``annotations`` or ``unknown``: neither, so destructive).
    """

    risk: Risk
    risk_source: Literal["policy", "annotations", "unknown"]
    arguments: dict[str, Any] | None
    argument_problem: str | None
    decision: Verdict | None
    reasons: tuple[str, ...]
    reversible: bool | None
    defaults: Defaults


class Policy:
    """Compiled rules and defaults; :meth:`assess` is pure and cached per tool name."""

    def __init__(self, rules: Sequence[Rule] = (), defaults: Defaults | None = None) -> None:
        self.rules = tuple(rules)
        self.defaults = defaults or Defaults()
        self._by_tool: dict[tuple[str, str], tuple[Rule, ...]] = {}

    def rules_for(self, server: str, tool: str) -> tuple[Rule, ...]:
        """The rules whose ``match`` covers this tool, in file order (cached)."""
        key = (server, tool)
        found = self._by_tool.get(key)
        if found is None:
            if len(self._by_tool) >= _CACHE_LIMIT:
                self._by_tool.clear()
            found = tuple(r for r in self.rules if r.names(server, tool))
            self._by_tool[key] = found
        return found

    def assess(self, call: ToolCall) -> Assessment:
        """Classify ``call`` and apply every rule that holds for it."""
        args, problem = call.parsed_arguments()
        decision: Verdict | None = None
        risk: Risk | None = None
        reversible: bool | None = None
        reasons: list[str] = []
        for rule in self.rules_for(call.server, call.tool):
            if not rule.applies(args):
                continue
            if rule.risk is not None and (risk is None or _RISK_RANK[rule.risk] > _RISK_RANK[risk]):
                risk = rule.risk
            if rule.reversible is not None:
                reversible = (
                    rule.reversible if reversible is None else reversible and rule.reversible
                )
            if rule.decision is not None:
                if decision is None or _VERDICT_RANK[rule.decision] > _VERDICT_RANK[decision]:
                    decision = rule.decision
                if rule.decision != "allow":
                    reasons.append(f"policy {rule.decision}: {rule.reason or rule.where}")
        source: Literal["policy", "annotations", "unknown"] = "policy"
        if risk is None:
            risk, source = _risk_from_annotations(call.annotations)
        return Assessment(
            risk, source, args, problem, decision, tuple(reasons), reversible, self.defaults
        )


def _risk_from_annotations(
    hints: Mapping[str, Any],
) -> tuple[Risk, Literal["annotations", "unknown"]]:
    if not hints:
        return "destructive", "unknown"
    if hints.get("readOnlyHint") is True:
        return "read", "annotations"
    # MCP defaults: destructiveHint and openWorldHint are true for a tool that is not
    # read-only. An open-world effect (a message sent, a payment) cannot be taken back, so a
    # write counts as a plain write only when the server says it is neither.
    if hints.get("destructiveHint", True) is False and hints.get("openWorldHint", True) is False:
        return "write", "annotations"
    return "destructive", "annotations"


# ----------------------------------------------------------------------------- loading

_TOP_KEYS = {"version", "defaults", "rules"}
_DEFAULT_KEYS = {"read", "write", "destructive", "approval_ttl", "thresholds"}
_THRESHOLD_KEYS = {"blast_radius", "confidence", "error_streak"}
_RULE_KEYS = {"name", "match", "when", "decision", "risk", "reversible", "reason"}
_MATCH_KEYS = {"tool", "server"}
_OPS = {"equals", "in", "glob", "regex", "gt", "ge", "lt", "le", "exists", "contains"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)?")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def load_policy(path: Path) -> Policy:
    """Read and compile the policy file at ``path``; :class:`PolicyError` lists every problem."""
    try:
        loaded = load_spec_data(path, environ={})
    except SpecError as exc:
        raise PolicyError(exc.issues) from None
    return _Compiler(loaded.source, str(path)).compile(loaded.data)


class _Compiler:
    def __init__(self, source: SourceMap, file: str) -> None:
        self.source = source
        self.file = file
        self.issues: list[Issue] = []

    def where(self, path: tuple[str | int, ...], *, key: bool = False) -> Location:
        found = self.source.locate_key(path) if key else self.source.locate(path)
        return found or Location(self.file, 1, 1)

    def problem(
        self, path: tuple[str | int, ...], message: str, hint: str = "", *, key: bool = False
    ) -> None:
        self.issues.append(Issue(self.where(path, key=key), message, hint))

    def unknown_keys(
        self, data: Mapping[str, Any], allowed: set[str], path: tuple[str | int, ...]
    ) -> None:
        for name in data:
            if name not in allowed:
                self.problem(
                    (*path, name),
                    f"unknown key {name!r}",
                    f"expected one of: {', '.join(sorted(allowed))}",
                    key=True,
                )

    def compile(self, data: Mapping[str, Any]) -> Policy:
        self.unknown_keys(data, _TOP_KEYS, ())
        if data.get("version", 1) != 1:
            self.problem(
                ("version",),
                f"unknown policy version {data.get('version')!r}",
                "write `version: 1`",
            )
        defaults = self.defaults(data.get("defaults") or {})
        rules_data = data.get("rules") or []
        rules: list[Rule] = []
        if not isinstance(rules_data, list):
            self.problem(
                ("rules",), "`rules` is a list of rules", "start each rule with `- match: ...`"
            )
        else:
            for index, item in enumerate(rules_data):
                rule = self.rule(item, ("rules", index))
                if rule is not None:
                    rules.append(rule)
        if self.issues:
            raise PolicyError(self.issues)
        return Policy(rules, defaults)

    def verdict(self, value: Any, path: tuple[str | int, ...]) -> Verdict | None:
        if value in VERDICTS:
            return cast(Verdict, value)
        self.problem(path, f"unknown decision {value!r}", "write allow, halt or deny")
        return None

    def defaults(self, data: Any) -> Defaults:
        if not isinstance(data, Mapping):
            self.problem(("defaults",), "`defaults` is a mapping")
            return Defaults()
        self.unknown_keys(data, _DEFAULT_KEYS, ("defaults",))
        values: dict[str, Any] = {}
        for risk in RISKS:
            if risk in data:
                values[risk] = self.verdict(data[risk], ("defaults", risk)) or "halt"
        if "approval_ttl" in data:
            values["approval_ttl"] = self.duration(
                data["approval_ttl"], ("defaults", "approval_ttl")
            )
        thresholds = data.get("thresholds") or {}
        if not isinstance(thresholds, Mapping):
            self.problem(("defaults", "thresholds"), "`thresholds` is a mapping")
            thresholds = {}
        self.unknown_keys(thresholds, _THRESHOLD_KEYS, ("defaults", "thresholds"))
        for name, value in thresholds.items():
            if name in _THRESHOLD_KEYS:
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    self.problem(
                        ("defaults", "thresholds", name), f"{name} must be a positive number"
                    )
                else:
                    values[name] = value
        return Defaults(**values)

    def duration(self, value: Any, path: tuple[str | int, ...]) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        found = _DURATION.fullmatch(str(value).strip())
        if found is None or float(found.group(1)) <= 0:
            self.problem(path, f"invalid duration {value!r}", "write seconds, or e.g. 30m, 1h, 2d")
            return _DEFAULT_TTL
        return float(found.group(1)) * _UNITS[found.group(2)]

    def globs(self, value: Any, path: tuple[str | int, ...]) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [value]
        out: list[str] = []
        for index, item in enumerate(items):
            if not isinstance(item, str) or not item:
                spot = (*path, index) if isinstance(value, list) else path
                self.problem(spot, f"a glob is a non-empty string, not {item!r}")
                continue
            if item.count("[") != item.count("]"):
                spot = (*path, index) if isinstance(value, list) else path
                self.problem(
                    spot, f"unbalanced brackets in glob {item!r}", "write [[] for a literal ["
                )
                continue
            out.append(item)
        return tuple(out)

    def rule(self, item: Any, path: tuple[str | int, ...]) -> Rule | None:
        if not isinstance(item, Mapping):
            self.problem(path, "a rule is a mapping", "start it with `- match: ...`")
            return None
        before = len(self.issues)
        self.unknown_keys(item, _RULE_KEYS, path)
        match = item.get("match")
        tools: tuple[str, ...] = ()
        servers: tuple[str, ...] = ()
        if match is None:
            self.problem(path, "a rule needs `match`", 'e.g. `match: "notion__*"`')
        elif isinstance(match, Mapping):
            self.unknown_keys(match, _MATCH_KEYS, (*path, "match"))
            if "tool" in match:
                tools = self.globs(match["tool"], (*path, "match", "tool"))
            if "server" in match:
                servers = self.globs(match["server"], (*path, "match", "server"))
            if not tools and not servers and len(self.issues) == before:
                self.problem((*path, "match"), "`match` needs `tool` or `server`")
        else:
            tools = self.globs(match, (*path, "match"))
        decision = None
        if "decision" in item:
            decision = self.verdict(item["decision"], (*path, "decision"))
        risk: Risk | None = None
        if "risk" in item:
            if item["risk"] in RISKS:
                risk = cast(Risk, item["risk"])
            else:
                self.problem(
                    (*path, "risk"),
                    f"unknown risk {item['risk']!r}",
                    "write read, write or destructive",
                )
        reversible = item.get("reversible")
        if reversible is not None and not isinstance(reversible, bool):
            self.problem((*path, "reversible"), "`reversible` is true or false")
            reversible = None
        if "decision" not in item and "risk" not in item and "reversible" not in item:
            self.problem(path, "a rule needs `decision`, `risk` or `reversible`")
        when = self.when(item.get("when"), (*path, "when"))
        reason = item.get("reason", item.get("name", ""))
        if len(self.issues) > before:
            return None
        return Rule(
            where=str(self.where(path)),
            tools=tools,
            servers=servers,
            when=when,
            decision=decision,
            risk=risk,
            reversible=reversible,
            reason=str(reason or ""),
            _tool_re=_glob_re(tools),
            _server_re=_glob_re(servers),
        )

    def when(self, data: Any, path: tuple[str | int, ...]) -> tuple[_Predicate, ...]:
        if data is None:
            return ()
        if not isinstance(data, Mapping):
            self.problem(
                path, "`when` maps argument names to conditions", "e.g. `when: {recursive: true}`"
            )
            return ()
        out: list[_Predicate] = []
        for name, cond in data.items():
            keys = tuple(str(name).split("."))
            spot = (*path, name)
            if not isinstance(cond, Mapping):
                out.append(_Predicate(keys, _equals(cond)))
                continue
            for op in cond:
                if op not in _OPS:
                    self.problem(
                        (*spot, op),
                        f"unknown condition {op!r}",
                        f"expected one of: {', '.join(sorted(_OPS))}",
                        key=True,
                    )
            for op, operand in cond.items():
                pred = self.predicate(keys, str(op), operand, (*spot, op))
                if pred is not None:
                    out.append(pred)
        return tuple(out)

    def predicate(
        self, keys: tuple[str, ...], op: str, operand: Any, path: tuple[str | int, ...]
    ) -> _Predicate | None:
        if op == "exists":
            if not isinstance(operand, bool):
                self.problem(path, "`exists` is true or false")
                return None
            return _Predicate(keys, _never, exists=operand)
        if op == "equals":
            return _Predicate(keys, _equals(operand))
        if op == "in":
            if not isinstance(operand, list):
                self.problem(path, "`in` takes a list")
                return None
            return _Predicate(keys, _any_item(lambda v: any(_same(v, o) for o in operand)))
        if op == "contains":
            return _Predicate(keys, _contains(operand))
        if op in ("gt", "ge", "lt", "le"):
            if isinstance(operand, bool) or not isinstance(operand, int | float):
                self.problem(path, f"`{op}` takes a number")
                return None
            return _Predicate(keys, _compare(op, float(operand)))
        if op == "glob":
            patterns = self.globs(operand, path)
            if not patterns:
                return None
            return _Predicate(keys, _any_item(_path_glob(patterns)))
        if op == "regex":
            try:
                compiled = re.compile(str(operand))
            except re.error as exc:
                self.problem(path, f"invalid regular expression: {exc}")
                return None
            return _Predicate(
                keys, _any_item(lambda v: isinstance(v, str) and compiled.search(v) is not None)
            )
        return None


# ----------------------------------------------------------------------------- matching


def _glob_re(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def _path_glob(patterns: tuple[str, ...]) -> Callable[[Any], bool]:
    expanded = list(patterns)
    for pattern in patterns:
        if pattern.startswith("~/"):
            expanded.append(str(Path.home()) + pattern[1:])
    compiled = _glob_re(tuple(expanded))
    assert compiled is not None

    def test(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if compiled.match(value) is not None:
            return True
        # "/srv/../etc/passwd" is /etc/passwd: match the normalised path too.
        if "/" in value:
            norm = posixpath.normpath(value)
            return norm != value and compiled.match(norm) is not None
        return False

    return test


def _never(value: Any) -> bool:
    return False


def _same(value: Any, operand: Any) -> bool:
    if isinstance(value, bool) or isinstance(operand, bool):
        return value is operand
    return bool(value == operand)


def _equals(operand: Any) -> Callable[[Any], bool]:
    return (
        _any_item(lambda v: _same(v, operand))
        if not isinstance(operand, list)
        else (lambda v: v == operand)
    )


def _contains(operand: Any) -> Callable[[Any], bool]:
    def test(value: Any) -> bool:
        if isinstance(value, str):
            return isinstance(operand, str) and operand in value
        if isinstance(value, list | tuple):
            return any(_same(v, operand) for v in value)
        if isinstance(value, Mapping):
            return operand in value
        return False

    return test


def _compare(op: str, bound: float) -> Callable[[Any], bool]:
    def test(value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            return False
        if op == "gt":
            return bool(value > bound)
        if op == "ge":
            return bool(value >= bound)
        if op == "lt":
            return bool(value < bound)
        return bool(value <= bound)

    return test


def _any_item(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def any_item(value: Any) -> bool:
        if isinstance(value, list | tuple):
            return any(test(v) for v in value)
        return test(value)

    return any_item


def _lookup(args: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    value: Any = args
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return False, None
        value = value[key]
    return True, value


def _canonical(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, Mapping),
    "null": lambda v: v is None,
}


def _schema_problem(args: Mapping[str, Any], schema: Mapping[str, Any]) -> str | None:
    """The first way ``args`` breaks the top level of ``schema``, or None (a small subset)."""
    for name in schema.get("required", ()):
        if name not in args:
            return f"missing required argument {name!r}"
    properties = schema.get("properties") or {}
    for name, value in args.items():
        spec = properties.get(name)
        if spec is None:
            if schema.get("additionalProperties") is False:
                return f"unexpected argument {name!r}"
            continue
        kinds = spec.get("type")
        if kinds is not None:
            kinds = kinds if isinstance(kinds, list) else [kinds]
            if not any(_JSON_TYPES.get(k, lambda v: True)(value) for k in kinds):
                return f"argument {name!r} should be {' or '.join(kinds)}"
        if "enum" in spec and value not in spec["enum"]:
            return f"argument {name!r} should be one of {spec['enum']}"
    return None
