"""Notion formulas: parse, type-check and evaluate the common subset of Notion's language.

A database property of type ``formula`` holds an expression such as
``prop("Budget") * 0.2`` or ``if(prop("Done"), "✅", "…")``. The local Notion server needs four
things from it, and this module provides them without touching the rest of the server:

* :func:`compile_formula` parses (and caches) an expression; bad syntax, unknown functions and
  wrong argument counts are a :class:`~devfactory.errors.FormulaError` with a position;
* :attr:`Formula.references` names the properties it reads through ``prop("…")``;
* :meth:`Formula.result_type` type-checks it against the kinds of those properties;
* :meth:`Formula.evaluate` computes it for one page; runtime problems (division by zero, an
  empty date, …) give an empty result instead of an error, as Notion shows them.

:func:`rename_property` rewrites ``prop("old")`` references when a property is renamed.

The pipeline is a tokenizer, a Pratt parser producing small frozen dataclasses, a type checker
and a tree-walking evaluator; the function table lives in :mod:`._formula_funcs`. The language
supported is documented in ``docs/formula.md``.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, TypeAlias

from devfactory.emulator._formula_funcs import (
    ALL_KINDS,
    FUNCTIONS,
    Arg,
    DateRange,
    EvalFault,
    Kind,
    ResultType,
    Value,
    as_bool,
    as_num,
    compare_key,
    error,
    format_value,
    js_remainder,
    norm_number,
    normalize_range,
    power,
    to_number,
    values_equal,
)
from devfactory.errors import FormulaError

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "DateRange",
    "Formula",
    "FormulaInput",
    "FormulaResult",
    "Kind",
    "ResultType",
    "compile_formula",
    "rename_property",
]

MAX_LENGTH = 10_000
"""Longest expression accepted, in characters."""

MAX_DEPTH = 128
"""Deepest nesting accepted (parentheses, calls, operators); keeps recursion bounded."""

FormulaInput: TypeAlias = str | int | float | bool | DateRange | list[str] | None
"""What ``resolve`` returns for a property: see :meth:`Formula.evaluate`."""


@dataclass(frozen=True, slots=True)
class FormulaResult:
    """A formula's value for one page; ``value`` is ``None`` when Notion shows it empty."""

    type: ResultType
    value: str | int | float | bool | DateRange | None


# --------------------------------------------------------------------------- tokens

_TokenKind = Literal["number", "string", "name", "op", "end"]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _TokenKind
    text: str  # the source text of the token
    pos: int
    end: int
    value: str | int | float | None = None  # decoded string or number

    def describe(self) -> str:
        if self.kind == "end":
            return "end of formula"
        return f"{self.kind} {self.text!r}" if self.kind != "op" else repr(self.text)


_OPERATORS = (
    *("==", "!=", ">=", "<=", "&&", "||"),
    *("+", "-", "*", "/", "%", "^", ">", "<", "!", "(", ")", ",", ".", "?", ":"),
)
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_HINTS = {"=": " (use == to compare)", "&": " (use && or and)", "|": " (use || or or)"}


def _read_string(text: str, start: int) -> _Token:
    parts: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return _Token("string", text[start : i + 1], start, i + 1, "".join(parts))
        if char == "\\" and i + 1 < len(text):
            # Unknown escapes keep their backslash, so "\d" reaches a regex intact.
            parts.append(_ESCAPES.get(text[i + 1], "\\" + text[i + 1]))
            i += 2
            continue
        parts.append(char)
        i += 1
    raise error("Syntax error: unterminated string", start)


def _read_number(text: str, start: int, match: re.Match[str]) -> _Token:
    literal = match.group()
    end = match.end()
    if end < len(text) and (text[end].isalnum() or text[end] == "_"):
        raise error(f"Syntax error: invalid number {text[start : end + 1]!r}", start)
    value: int | float
    if literal.isdigit() and len(literal) <= 15:
        value = int(literal)
    else:
        value = float(literal)
        if not math.isfinite(value):
            raise error(f"Syntax error: number {literal!r} is too large", start)
    return _Token("number", literal, start, end, value)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            if close < 0:
                raise error("Syntax error: unterminated comment", i)
            i = close + 2
        elif char == '"':
            tokens.append(_read_string(text, i))
            i = tokens[-1].end
        elif number := _NUMBER.match(text, i):
            tokens.append(_read_number(text, i, number))
            i = tokens[-1].end
        elif name := _NAME.match(text, i):
            tokens.append(_Token("name", name.group(), i, name.end()))
            i = name.end()
        else:
            op = next((op for op in _OPERATORS if text.startswith(op, i)), None)
            if op is None:
                hint = _HINTS.get(char, "")
                raise error(f"Syntax error: unexpected character {char!r}{hint}", i)
            tokens.append(_Token("op", op, i, i + len(op)))
            i += len(op)
    tokens.append(_Token("end", "", len(text), len(text)))
    return tokens


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True, slots=True)
class _Literal:
    pos: int
    value: str | int | float | bool


@dataclass(frozen=True, slots=True)
class _Prop:
    pos: int
    name: str
    span: tuple[int, int]  # the string literal's source span, for rename_property


@dataclass(frozen=True, slots=True)
class _Var:
    pos: int
    name: str


@dataclass(frozen=True, slots=True)
class _Unary:
    pos: int
    op: str  # "-", "+" or "not"
    operand: _Node


@dataclass(frozen=True, slots=True)
class _Binary:
    pos: int
    op: str  # operator text; "&&" and "||" are stored as "and" and "or"
    left: _Node
    right: _Node


@dataclass(frozen=True, slots=True)
class _Cond:
    pos: int
    cond: _Node
    then: _Node
    other: _Node


@dataclass(frozen=True, slots=True)
class _Call:
    pos: int
    name: str
    args: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Let:
    pos: int
    names: tuple[str, ...]
    values: tuple[_Node, ...]
    body: _Node


_Node: TypeAlias = _Literal | _Prop | _Var | _Unary | _Binary | _Cond | _Call | _Let


def _children(node: _Node) -> tuple[_Node, ...]:
    match node:
        case _Unary(operand=operand):
            return (operand,)
        case _Binary(left=left, right=right):
            return (left, right)
        case _Cond(cond=cond, then=then, other=other):
            return (cond, then, other)
        case _Call(args=args):
            return args
        case _Let(values=values, body=body):
            return (*values, body)
        case _:
            return ()


# --------------------------------------------------------------------------- parser

# Binding powers, loosest first; an infix operator binds while its power exceeds the caller's.
_TERNARY, _OR, _AND, _EQUALITY, _RELATION, _SUM, _PRODUCT, _UNARY, _POWER, _POSTFIX = range(1, 11)
_INFIX = {
    "?": _TERNARY,
    "or": _OR,
    "||": _OR,
    "and": _AND,
    "&&": _AND,
    "==": _EQUALITY,
    "!=": _EQUALITY,
    ">": _RELATION,
    ">=": _RELATION,
    "<": _RELATION,
    "<=": _RELATION,
    "+": _SUM,
    "-": _SUM,
    "*": _PRODUCT,
    "/": _PRODUCT,
    "%": _PRODUCT,
    "^": _POWER,
    ".": _POSTFIX,
}
_CONSTANTS: dict[str, int | float | bool] = {
    "true": True,
    "false": False,
    "pi": math.pi,
    "e": math.e,
}
_KEYWORDS = frozenset({*_CONSTANTS, "and", "or", "not", "prop", "let", "lets"})
_SPECIAL_FORMS = frozenset({"if", "ifs", "and", "or", "not"})


class _Parser:
    """Pratt parser over the token list; also resolves names and checks call arity."""

    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._index = 0
        self._depth = 0
        self._scope: list[str] = []  # names bound by enclosing let/lets
        self.props: list[_Prop] = []

    def parse(self) -> _Node:
        if self._peek().kind == "end":
            return _Literal(0, "")
        node = self._expression(0)
        self._expect_end()
        return node

    # token helpers

    def _peek(self) -> _Token:
        return self._tokens[self._index]

    def _next(self) -> _Token:
        token = self._tokens[self._index]
        if token.kind != "end":
            self._index += 1
        return token

    def _is_op(self, text: str) -> bool:
        token = self._peek()
        return token.kind == "op" and token.text == text

    def _expect(self, text: str) -> _Token:
        token = self._next()
        if token.kind != "op" or token.text != text:
            raise error(f"Syntax error: expected {text!r} but found {token.describe()}", token.pos)
        return token

    def _expect_end(self) -> None:
        token = self._peek()
        if token.kind != "end":
            raise error(f"Syntax error: unexpected {token.describe()}", token.pos)

    # expressions

    def _expression(self, min_power: int) -> _Node:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise error(f"Formula is nested too deeply (limit {MAX_DEPTH})", self._peek().pos)
        left = self._prefix(self._next())
        while True:
            token = self._peek()
            power = _INFIX.get(token.text) if token.kind in ("op", "name") else None
            if power is None or power <= min_power:
                break
            self._next()
            left = self._infix(token, left, power)
        self._depth -= 1
        return left

    def _prefix(self, token: _Token) -> _Node:
        if token.kind in ("number", "string"):
            assert token.value is not None
            return _Literal(token.pos, token.value)
        if token.kind == "name":
            return self._name(token)
        if token.kind == "op" and token.text in ("-", "+", "!"):
            op = "not" if token.text == "!" else token.text
            return _Unary(token.pos, op, self._expression(_UNARY))
        if token.kind == "op" and token.text == "(":
            node = self._expression(0)
            self._expect(")")
            return node
        raise error(f"Syntax error: unexpected {token.describe()}", token.pos)

    def _name(self, token: _Token) -> _Node:
        name = token.text
        calls = self._is_op("(")
        if name == "not" and not calls:
            return _Unary(token.pos, "not", self._expression(_UNARY))
        if name in _CONSTANTS:
            return _Literal(token.pos, _CONSTANTS[name])
        if name == "prop":
            return self._prop(token)
        if name in ("let", "lets") and calls:
            return self._let(token)
        if calls:
            self._next()
            return self._call(name, token.pos, self._arguments())
        if name in self._scope:
            return _Var(token.pos, name)
        if name in ("and", "or"):
            raise error(f"Syntax error: unexpected {name!r}", token.pos)
        if name in FUNCTIONS or name in _SPECIAL_FORMS:
            raise error(f"Syntax error: function {name}() needs parentheses", token.pos)
        raise error(
            f'Unknown identifier {name!r} (properties are written prop("{name}"))', token.pos
        )

    def _prop(self, token: _Token) -> _Prop:
        self._expect("(")
        arg = self._next()
        if arg.kind != "string":
            raise error("Syntax error: prop() takes a property name in double quotes", arg.pos)
        self._expect(")")
        assert isinstance(arg.value, str)
        node = _Prop(token.pos, arg.value, (arg.pos, arg.end))
        self.props.append(node)
        return node

    def _let(self, token: _Token) -> _Let:
        self._next()  # "("
        names: list[str] = []
        values: list[_Node] = []
        bound = len(self._scope)
        while True:
            name = self._next()
            reserved = name.text in _KEYWORDS or name.text in _SPECIAL_FORMS
            if name.kind != "name" or reserved or name.text in FUNCTIONS:
                found = name.describe()
                raise error(
                    f"Syntax error: {token.text}() expects a variable name, found {found}", name.pos
                )
            self._expect(",")
            values.append(self._expression(0))
            names.append(name.text)
            self._scope.append(name.text)
            self._expect(",")
            if (
                token.text == "let"
                or self._peek().kind != "name"
                or self._tokens[self._index + 1].text != ","
            ):
                break
        body = self._expression(0)
        self._expect(")")
        del self._scope[bound:]
        return _Let(token.pos, tuple(names), tuple(values), body)

    def _arguments(self) -> list[_Node]:
        args: list[_Node] = []
        if self._is_op(")"):
            self._next()
            return args
        while True:
            args.append(self._expression(0))
            token = self._next()
            if token.kind == "op" and token.text == ")":
                return args
            if token.kind != "op" or token.text != ",":
                raise error(
                    f"Syntax error: expected ',' or ')' but found {token.describe()}", token.pos
                )

    def _call(self, name: str, pos: int, args: list[_Node]) -> _Node:
        """A call node, with the special forms lowered to operators and conditionals."""
        if name in _SPECIAL_FORMS:
            return self._special(name, pos, args)
        func = FUNCTIONS.get(name)
        if func is None:
            raise error(f"Unknown or unsupported function {name!r}", pos)
        low, high = func.min_args, func.max_args
        if len(args) < low or (high is not None and len(args) > high):
            if high is None:
                expected = f"{low} or more"
            else:
                expected = f"{low}" if low == high else f"{low} to {high}"
            raise error(f"{name}() takes {expected} arguments, got {len(args)}", pos)
        return _Call(pos, name, tuple(args))

    def _special(self, name: str, pos: int, args: list[_Node]) -> _Node:
        if name == "not":
            if len(args) != 1:
                raise error(f"not() takes 1 argument, got {len(args)}", pos)
            return _Unary(pos, "not", args[0])
        if name in ("and", "or"):
            if len(args) < 2:
                raise error(f"{name}() takes 2 or more arguments, got {len(args)}", pos)
            node = args[0]
            for arg in args[1:]:
                node = _Binary(pos, name, node, arg)
            return node
        if name == "if" and len(args) != 3:
            raise error(f"if() takes 3 arguments (condition, then, else), got {len(args)}", pos)
        if len(args) < 3 or len(args) % 2 == 0:
            raise error(
                f"ifs() takes condition, value pairs and a final else value, "
                f"got {len(args)} arguments",
                pos,
            )
        node = args[-1]
        for i in range(len(args) - 3, -1, -2):
            node = _Cond(pos, args[i], args[i + 1], node)
        return node

    def _infix(self, token: _Token, left: _Node, power: int) -> _Node:
        op = {"&&": "and", "||": "or"}.get(token.text, token.text)
        if op == "?":
            then = self._expression(0)
            self._expect(":")
            return _Cond(token.pos, left, then, self._expression(power - 1))
        if op == ".":
            name = self._next()
            if name.kind != "name" or not self._is_op("("):
                raise error(
                    f"Syntax error: expected a method call after '.', found {name.describe()}",
                    name.pos,
                )
            if name.text in ("prop", "let", "lets"):
                raise error(f"{name.text}() cannot be called as a method", name.pos)
            self._next()
            return self._call(name.text, name.pos, [left, *self._arguments()])
        right_power = power - 1 if op == "^" else power  # "^" is right-associative
        return _Binary(token.pos, op, left, self._expression(right_power))


def _check_depth(root: _Node) -> None:
    """Reject trees deeper than MAX_DEPTH (long operator chains), without recursing."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise error(f"Formula is nested too deeply (limit {MAX_DEPTH})", node.pos)
        stack.extend((child, depth + 1) for child in _children(node))


# --------------------------------------------------------------------------- types

_VERBS = {
    "-": "subtract",
    "*": "multiply",
    "/": "divide",
    "%": "take the remainder of",
    "^": "raise",
}
_ORDERED: frozenset[Kind] = frozenset({"number", "string", "date", "boolean"})


def _literal_kind(value: str | int | float | bool) -> Kind:
    if isinstance(value, bool):
        return "boolean"
    return "string" if isinstance(value, str) else "number"


class _TypeChecker:
    """Infers the kind of every node; one recursion per tree level."""

    def __init__(self, kinds: Mapping[str, Kind]) -> None:
        self._kinds = kinds

    def check(self, node: _Node, env: dict[str, Kind]) -> Kind:
        match node:
            case _Literal(value=literal):
                return _literal_kind(literal)
            case _Prop(name=name, pos=pos):
                kind = self._kinds.get(name)
                if kind is None:
                    raise error(f'Unknown property "{name}"', pos)
                if kind not in ALL_KINDS:
                    raise error(f'Property "{name}" has unsupported kind {kind!r}', pos)
                return kind
            case _Var(name=name):
                return env[name]
            case _Unary(op=op, operand=operand, pos=pos):
                kind = self.check(operand, env)
                wanted: Kind = "boolean" if op == "not" else "number"
                if kind != wanted:
                    verb = "apply 'not' to" if op == "not" else f"apply unary {op!r} to"
                    raise error(f"Type error: cannot {verb} {kind}", pos)
                return wanted
            case _Binary():
                return self._binary(node, self.check(node.left, env), self.check(node.right, env))
            case _Cond(cond=cond, then=then, other=other, pos=pos):
                cond_kind = self.check(cond, env)
                if cond_kind != "boolean":
                    raise error(f"Type error: condition must be boolean, got {cond_kind}", cond.pos)
                then_kind, other_kind = self.check(then, env), self.check(other, env)
                if then_kind != other_kind:
                    raise error(
                        f"Type error: both branches must have the same type, got {then_kind} and "
                        f"{other_kind}",
                        pos,
                    )
                return then_kind
            case _Call(name=name, args=args, pos=pos):
                infos: list[Arg] = []
                for arg in args:
                    constant = arg.value if isinstance(arg, _Literal) else None
                    infos.append(Arg(self.check(arg, env), constant, arg.pos))
                return FUNCTIONS[name].check(infos, pos)
            case _Let(names=names, values=values, body=body):
                inner = dict(env)
                for name, value_node in zip(names, values, strict=True):
                    inner[name] = self.check(value_node, inner)
                return self.check(body, inner)

    @staticmethod
    def _binary(node: _Binary, left: Kind, right: Kind) -> Kind:
        op = node.op
        if op == "+":
            if left == right == "number":
                return "number"
            if "string" in (left, right):
                return "string"
            raise error(f"Type error: cannot add {left} and {right}", node.pos)
        if op in _VERBS:
            if left == right == "number":
                return "number"
            raise error(f"Type error: cannot {_VERBS[op]} {left} and {right}", node.pos)
        if op in ("==", "!="):
            return "boolean"
        if op in ("and", "or"):
            if left == right == "boolean":
                return "boolean"
            raise error(
                f"Type error: {op!r} needs boolean operands, got {left} and {right}", node.pos
            )
        if left != right or left not in _ORDERED:
            raise error(f"Type error: cannot compare {left} and {right} with {op!r}", node.pos)
        return "boolean"


_RESULT_TYPES: dict[Kind, ResultType] = {
    "string": "string",
    "number": "number",
    "boolean": "boolean",
    "date": "date",
    "list": "string",  # a list result is shown as its items joined with ", "
}


# --------------------------------------------------------------------------- evaluation

_EVAL_ERRORS = (EvalFault, ArithmeticError, ValueError, re.error)
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _normalize_input(value: object, kind: Kind) -> Value:
    """The page's value as the evaluator expects it for ``kind``; mismatches become empty."""
    if kind == "string":
        return value if isinstance(value, str) else format_value(_normalize_loose(value))
    if kind == "number":
        number = value if isinstance(value, int | float) else None
        if isinstance(value, str):
            number = to_number(value)
        if isinstance(number, bool) or number is None or not math.isfinite(number):
            return None
        return number
    if kind == "boolean":
        return value if isinstance(value, bool) else False
    if kind == "date":
        loose = _normalize_loose(value)
        return loose if isinstance(loose, DateRange) else None
    if isinstance(value, list | tuple):
        return [
            item if isinstance(item, str) else format_value(_normalize_loose(item))
            for item in value
        ]
    return [value] if isinstance(value, str) and value else []


def _normalize_loose(value: object) -> Value:
    if isinstance(value, DateRange):
        return normalize_range(value)
    if isinstance(value, date):
        return normalize_range(DateRange(value))
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list):
        return [str(item) for item in value]
    return None


class _Evaluator:
    """Computes a node's value for one page; runtime problems raise and empty the result."""

    def __init__(
        self, resolve: Callable[[str], FormulaInput], kinds: Mapping[str, Kind], now: datetime
    ) -> None:
        self._resolve = resolve
        self._kinds = kinds
        self._now = now
        self._props: dict[str, Value] = {}

    def eval(self, node: _Node, env: dict[str, Value]) -> Value:
        match node:
            case _Literal(value=literal):
                return literal
            case _Prop(name=name):
                if name not in self._props:
                    self._props[name] = _normalize_input(self._resolve(name), self._kinds[name])
                return self._props[name]
            case _Var(name=name):
                return env[name]
            case _Unary(op=op, operand=operand):
                inner_value = self.eval(operand, env)
                if op == "not":
                    return not as_bool(inner_value)
                number = as_num(inner_value)
                return norm_number(-number if op == "-" else number)
            case _Binary(op="and", left=left, right=right):
                return as_bool(self.eval(left, env)) and as_bool(self.eval(right, env))
            case _Binary(op="or", left=left, right=right):
                return as_bool(self.eval(left, env)) or as_bool(self.eval(right, env))
            case _Binary(op=op, left=left, right=right):
                return _binary(op, self.eval(left, env), self.eval(right, env))
            case _Cond(cond=cond, then=then, other=other):
                return self.eval(then if as_bool(self.eval(cond, env)) else other, env)
            case _Call(name=name, args=args):
                func = FUNCTIONS[name]
                values: list[Value] = []
                for arg in args:
                    arg_value = self.eval(arg, env)
                    if arg_value is None and not func.accepts_empty:
                        raise EvalFault
                    values.append(arg_value)
                result = func.impl(values, self._now)
                if isinstance(result, int | float) and not isinstance(result, bool):
                    return norm_number(result)
                return result
            case _Let(names=names, values=values_, body=body):
                inner = dict(env)
                for name, value_node in zip(names, values_, strict=True):
                    inner[name] = self.eval(value_node, inner)
                return self.eval(body, inner)


def _binary(op: str, left: Value, right: Value) -> Value:
    if op == "==":
        return values_equal(left, right)
    if op == "!=":
        return not values_equal(left, right)
    if op == "+" and (isinstance(left, str) or isinstance(right, str)):
        return format_value(left) + format_value(right)
    if op in ("<", "<=", ">", ">="):
        return _COMPARISONS[op](compare_key(left), compare_key(right))
    x, y = as_num(left), as_num(right)
    if op == "+":
        result = x + y
    elif op == "-":
        result = x - y
    elif op == "*":
        result = x * y
    elif op == "/":
        result = x / y
    elif op == "%":
        result = js_remainder(x, y)
    else:
        result = power(x, y)
    return norm_number(result)


def _to_result(kind: ResultType, value: Value) -> FormulaResult:
    if isinstance(value, list):
        return FormulaResult(kind, ", ".join(value))
    return FormulaResult(kind, value)


# --------------------------------------------------------------------------- public API


class Formula:
    """A compiled formula: the expression, the properties it reads, and its syntax tree.

    Instances are shared through the :func:`compile_formula` cache, so they are never mutated
    after construction apart from the private result-type cache.
    """

    __slots__ = ("_props", "_root", "_types", "expression", "references")

    def __init__(self, expression: str, root: _Node, props: tuple[_Prop, ...]) -> None:
        self.expression = expression
        self.references: frozenset[str] = frozenset(p.name for p in props)
        self._root = root
        self._props = props
        self._types: dict[tuple[tuple[str, str], ...], ResultType] = {}

    def __repr__(self) -> str:
        return f"Formula({self.expression!r})"

    def result_type(self, kinds: Mapping[str, Kind]) -> ResultType:
        """The formula's result type given the kind of each referenced property.

        Raises :class:`FormulaError` for a type error or a property missing from ``kinds``;
        the answer is cached per combination of kinds.
        """
        key = tuple(sorted((name, str(kinds.get(name))) for name in self.references))
        cached = self._types.get(key)
        if cached is not None:
            return cached
        try:
            kind = _TypeChecker(kinds).check(self._root, {})
        except RecursionError:  # pragma: no cover - MAX_DEPTH keeps recursion bounded
            raise FormulaError(f"Formula is nested too deeply (limit {MAX_DEPTH})") from None
        result = _RESULT_TYPES[kind]
        self._types[key] = result
        return result

    def evaluate(
        self,
        resolve: Callable[[str], FormulaInput],
        kinds: Mapping[str, Kind],
        *,
        now: datetime,
    ) -> FormulaResult:
        """The formula's value for one page.

        ``resolve(name)`` returns the page's value of property ``name`` (called at most once
        per name): ``str`` for text-like properties, ``int``/``float`` or ``None`` for numbers,
        ``bool`` for checkboxes, :class:`DateRange` or ``None`` for dates, ``list[str]`` for
        multi-select, people and relations. ``now`` is the moment ``now()`` and ``today()``
        see (naive means UTC). Only a type error raises (as :meth:`result_type`); runtime
        problems give ``FormulaResult(type, None)``.
        """
        result_type = self.result_type(kinds)
        moment = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
        try:
            value = _Evaluator(resolve, kinds, moment).eval(self._root, {})
        except _EVAL_ERRORS:
            return FormulaResult(result_type, None)
        return _to_result(result_type, value)


@functools.lru_cache(maxsize=1024)
def compile_formula(expression: str) -> Formula:
    """Parse ``expression`` into a :class:`Formula`; cached, as every page read compiles.

    Raises :class:`FormulaError` (with ``position``) for syntax errors, unknown functions or
    identifiers, wrong argument counts, and expressions beyond :data:`MAX_LENGTH` or
    :data:`MAX_DEPTH`. An empty expression is valid and yields the empty string.
    """
    if len(expression) > MAX_LENGTH:
        raise FormulaError(
            f"Formula is too long: {len(expression)} characters (limit {MAX_LENGTH})"
        )
    try:
        parser = _Parser(_tokenize(expression))
        root = parser.parse()
    except RecursionError:  # pragma: no cover - MAX_DEPTH keeps recursion bounded
        raise FormulaError(f"Formula is nested too deeply (limit {MAX_DEPTH})") from None
    _check_depth(root)
    return Formula(expression, root, tuple(parser.props))


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r") + '"'


def rename_property(expression: str, old: str, new: str) -> str:
    """``expression`` with every ``prop("old")`` pointing at ``new``; nothing else changes.

    Only the string literal inside ``prop(…)`` is rewritten, so spacing and comments stay
    byte-identical. Raises :class:`FormulaError` when ``expression`` does not compile.
    """
    formula = compile_formula(expression)
    spans = sorted(p.span for p in formula._props if p.name == old)
    if not spans or old == new:
        return expression
    parts: list[str] = []
    last = 0
    for start, end in spans:
        parts.append(expression[last:start])
        parts.append(_quote(new))
        last = end
    parts.append(expression[last:])
    return "".join(parts)
