"""The value model and function table of Notion formulas (private half of :mod:`.formula`).

:mod:`devfactory.emulator.formula` parses and type-checks expressions; this module holds what
the parser and evaluator share: the static kinds, the runtime values, Notion's way of printing
numbers and dates, and one :class:`Func` entry per supported function (its overloads for the
type checker and its implementation for the evaluator). Keeping the table apart keeps the
parser readable and makes adding a function a one-entry change.

Runtime problems (an empty input, a bad regular expression, a date out of range) raise
:class:`EvalFault` or a built-in arithmetic/value error; the evaluator turns every one of them
into an empty result, because a formula must never break a page read.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Literal, TypeAlias

from devfactory.errors import FormulaError

__all__ = [
    "ALL_KINDS",
    "FUNCTIONS",
    "Arg",
    "DateRange",
    "EvalFault",
    "Func",
    "Kind",
    "ResultType",
    "Value",
    "as_bool",
    "as_num",
    "error",
    "format_value",
    "instant",
    "norm_number",
    "normalize_range",
]

Kind = Literal["string", "number", "boolean", "date", "list"]
"""Static kind of a value; ``list`` is a list of strings (multi-select, people, relation)."""

ResultType = Literal["string", "number", "boolean", "date"]
"""The result types Notion reports for a formula property."""

ALL_KINDS: frozenset[Kind] = frozenset({"string", "number", "boolean", "date", "list"})


@dataclass(frozen=True, slots=True)
class DateRange:
    """A Notion date value: a start and, for ranges, an end.

    Points are aware UTC datetimes or plain dates (a date without a time); plain dates act as
    midnight UTC in arithmetic and comparisons.
    """

    start: datetime | date
    end: datetime | date | None = None


Value: TypeAlias = str | int | float | bool | DateRange | list[str] | None
"""A runtime value; ``None`` is an empty number or date (or a missing list element)."""


class EvalFault(Exception):
    """A runtime problem that makes the formula's result empty (never seen by callers)."""


def error(message: str, position: int | None) -> FormulaError:
    """A :class:`FormulaError` whose message ends with the position, when there is one."""
    if position is None:
        return FormulaError(message)
    return FormulaError(f"{message} (at position {position})", position=position)


# --------------------------------------------------------------------------- value access


def as_str(value: Value) -> str:
    """``value`` as a string, or an empty result."""
    if isinstance(value, str):
        return value
    raise EvalFault


def as_num(value: Value) -> int | float:
    """``value`` as a number (never a boolean), or an empty result."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise EvalFault


def as_bool(value: Value) -> bool:
    """``value`` as a boolean, or an empty result."""
    if isinstance(value, bool):
        return value
    raise EvalFault


def as_date(value: Value) -> DateRange:
    """``value`` as a date, or an empty result."""
    if isinstance(value, DateRange):
        return value
    raise EvalFault


def as_list(value: Value) -> list[str]:
    """``value`` as a list of strings, or an empty result."""
    if isinstance(value, list):
        return value
    raise EvalFault


def as_int(value: Value) -> int:
    """``value`` truncated toward zero, as JavaScript does for indices and places."""
    return math.trunc(as_num(value))


_MAX_SAFE = 2**53


def norm_number(value: int | float) -> int | float:
    """Keep numbers within what a JavaScript double holds: big ints become floats.

    Non-finite floats (overflow, NaN) are an empty result, as Notion shows them.
    """
    if isinstance(value, int):
        return value if -_MAX_SAFE <= value <= _MAX_SAFE else float(value)
    if not math.isfinite(value):
        raise EvalFault
    return value


def power(base: int | float, exponent: int | float) -> int | float:
    """``base ^ exponent``; exact for small int results, never a complex or huge int."""
    exact = isinstance(base, int) and isinstance(exponent, int) and exponent >= 0
    if exact and (base in (-1, 0, 1) or exponent * math.log2(abs(base)) <= 53):
        return base**exponent
    return math.pow(base, exponent)


def js_remainder(left: int | float, right: int | float) -> int | float:
    """JavaScript's ``%``: the remainder takes the sign of the dividend."""
    if isinstance(left, int) and isinstance(right, int):
        if right == 0:
            raise EvalFault
        rem = abs(left) % abs(right)
        return rem if left >= 0 else -rem
    return math.fmod(left, right)


# --------------------------------------------------------------------------- printing


def format_number(value: int | float) -> str:
    """A number as JavaScript's ``String(n)`` prints it: ``1``, ``1.5``, ``1e+21``, ``1e-7``."""
    if isinstance(value, int):
        return str(value)
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    digits = "".join(map(str, digit_tuple))
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits = stripped
    point = len(digits) + exponent  # where the decimal point sits, counted from the left
    count = len(digits)
    if count <= point <= 21:
        text = digits + "0" * (point - count)
    elif 0 < point <= 21:
        text = f"{digits[:point]}.{digits[point:]}"
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        exponent = point - 1
        head = digits[0] + (f".{digits[1:]}" if count > 1 else "")
        text = f"{head}e{'+' if exponent >= 0 else '-'}{abs(exponent)}"
    return sign + text


_EPOCH: datetime = datetime(1970, 1, 1, tzinfo=UTC)
_MONTHS = tuple(calendar.month_name)[1:]
_WEEKDAYS = tuple(calendar.day_name)  # Monday first, like date.weekday()
_DATE_TOKEN = re.compile(
    r"\[[^\]]*\]|YYYY|YY|MMMM|MMM|MM|M|Do|DD|D|dddd|ddd|dd|d|HH|H|hh|h|mm|m|ss|s|A|a|Q|X|x"
)


def _ordinal(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return f"{day}th"
    return f"{day}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th') }"


_TOKEN_FORMATTERS: dict[str, Callable[[datetime], str]] = {
    "YYYY": lambda d: f"{d.year:04d}",
    "YY": lambda d: f"{d.year % 100:02d}",
    "MMMM": lambda d: _MONTHS[d.month - 1],
    "MMM": lambda d: _MONTHS[d.month - 1][:3],
    "MM": lambda d: f"{d.month:02d}",
    "M": lambda d: str(d.month),
    "Do": lambda d: _ordinal(d.day),
    "DD": lambda d: f"{d.day:02d}",
    "D": lambda d: str(d.day),
    "dddd": lambda d: _WEEKDAYS[d.weekday()],
    "ddd": lambda d: _WEEKDAYS[d.weekday()][:3],
    "dd": lambda d: _WEEKDAYS[d.weekday()][:2],
    "d": lambda d: str(d.isoweekday() % 7),
    "HH": lambda d: f"{d.hour:02d}",
    "H": lambda d: str(d.hour),
    "hh": lambda d: f"{d.hour % 12 or 12:02d}",
    "h": lambda d: str(d.hour % 12 or 12),
    "mm": lambda d: f"{d.minute:02d}",
    "m": lambda d: str(d.minute),
    "ss": lambda d: f"{d.second:02d}",
    "s": lambda d: str(d.second),
    "A": lambda d: "AM" if d.hour < 12 else "PM",
    "a": lambda d: "am" if d.hour < 12 else "pm",
    "Q": lambda d: str((d.month - 1) // 3 + 1),
    "X": lambda d: str((d - _EPOCH) // timedelta(seconds=1)),
    "x": lambda d: str((d - _EPOCH) // timedelta(milliseconds=1)),
}


def format_date(point: date, pattern: str) -> str:
    """``point`` formatted with moment.js tokens; ``[text]`` is literal, other text is kept."""
    moment = instant(point)

    def token(match: re.Match[str]) -> str:
        text = match.group()
        if text.startswith("["):
            return text[1:-1]
        return _TOKEN_FORMATTERS[text](moment)

    return _DATE_TOKEN.sub(token, pattern)


def _default_date(point: date) -> str:
    if isinstance(point, datetime):
        return format_date(point, "MMMM D, YYYY h:mm A")
    return format_date(point, "MMMM D, YYYY")


def format_value(value: Value) -> str:
    """``value`` as Notion prints it in text: ``format()`` and ``+`` with a string use this."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(value)
    text = _default_date(value.start)
    if value.end is not None:
        text += " → " + _default_date(value.end)
    return text


# --------------------------------------------------------------------------- dates


def instant(point: date) -> datetime:
    """The UTC moment of a date point: plain dates are midnight UTC."""
    if isinstance(point, datetime):
        return point
    return datetime(point.year, point.month, point.day, tzinfo=UTC)


def _normalize_point(point: date) -> date:
    if isinstance(point, datetime):
        if point.tzinfo is None:
            return point.replace(tzinfo=UTC)
        return point.astimezone(UTC)
    return point


def normalize_range(value: DateRange) -> DateRange:
    """``value`` with naive datetimes read as UTC and aware ones converted to UTC."""
    end = None if value.end is None else _normalize_point(value.end)
    return DateRange(_normalize_point(value.start), end)


def _date_key(value: DateRange) -> tuple[datetime, datetime | None]:
    return instant(value.start), None if value.end is None else instant(value.end)


def values_equal(left: Value, right: Value) -> bool:
    """Notion's ``==``: values of different kinds are never equal."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, DateRange) and isinstance(right, DateRange):
        return _date_key(left) == _date_key(right)
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and left == right


def compare_key(value: Value) -> int | float | str | bool | datetime:
    """What ``<`` and friends compare: dates by their start moment; empty values fault."""
    if isinstance(value, DateRange):
        return instant(value.start)
    if value is None or isinstance(value, list):
        raise EvalFault
    return value


_MONTH_UNITS = {"years": 12, "quarters": 3, "months": 1}
_DAY_UNITS = {"weeks": 7, "days": 1}
_TIME_UNITS = {
    "hours": timedelta(hours=1),
    "minutes": timedelta(minutes=1),
    "seconds": timedelta(seconds=1),
    "milliseconds": timedelta(milliseconds=1),
}
UNITS: frozenset[str] = frozenset({*_MONTH_UNITS, *_DAY_UNITS, *_TIME_UNITS})


def _unit(text: str) -> str:
    """The canonical (plural) unit name; singular spellings are accepted too."""
    unit = text if text in UNITS else text + "s"
    if unit not in UNITS:
        raise EvalFault
    return unit


def _round_half_away(value: float) -> int:
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _add_months(point: date, months: int) -> date:
    total = point.year * 12 + point.month - 1 + months
    year, month0 = divmod(total, 12)
    day = min(point.day, calendar.monthrange(year, month0 + 1)[1])  # ValueError off-calendar
    return point.replace(year=year, month=month0 + 1, day=day)


def _shift(point: date, amount: int | float, unit: str) -> date:
    if unit in _MONTH_UNITS:
        return _add_months(point, _round_half_away(amount * _MONTH_UNITS[unit]))
    if unit in _DAY_UNITS:
        return point + timedelta(days=_round_half_away(amount * _DAY_UNITS[unit]))
    return instant(point) + _TIME_UNITS[unit] * amount


def date_add(value: DateRange, amount: int | float, unit_text: str) -> DateRange:
    """Shift both ends of ``value``; plain dates stay plain unless the unit is below a day."""
    unit = _unit(unit_text)
    end = None if value.end is None else _shift(value.end, amount, unit)
    return DateRange(_shift(value.start, amount, unit), end)


def _month_diff(later: datetime, earlier: datetime) -> int:
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    anchor = _add_months(earlier, months)
    if months > 0 and anchor > later:
        months -= 1
    elif months < 0 and anchor < later:
        months += 1
    return months


def _trunc_div(numerator: int, denominator: int) -> int:
    quotient = abs(numerator) // denominator
    return quotient if numerator >= 0 else -quotient


def date_between(left: DateRange, right: DateRange, unit_text: str) -> int:
    """``left - right`` in whole ``unit``s, truncated toward zero (moment's ``diff``)."""
    unit = _unit(unit_text)
    a, b = instant(left.start), instant(right.start)
    if unit in _MONTH_UNITS:
        return _trunc_div(_month_diff(a, b), _MONTH_UNITS[unit])
    step = timedelta(days=_DAY_UNITS[unit]) if unit in _DAY_UNITS else _TIME_UNITS[unit]
    micro = timedelta(microseconds=1)
    return _trunc_div((a - b) // micro, step // micro)


def _timestamp(value: DateRange) -> int:
    return (instant(value.start) - _EPOCH) // timedelta(milliseconds=1)


def _parse_date(text: str) -> DateRange | None:
    text = text.strip()
    try:
        if len(text) == 10:
            return DateRange(date.fromisoformat(text))
        return normalize_range(DateRange(datetime.fromisoformat(text)))
    except ValueError:
        return None


# --------------------------------------------------------------------------- text

_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def to_number(value: Value) -> int | float | None:
    """``toNumber``: numeric text, booleans (1/0) and dates (ms timestamp); else empty."""
    if isinstance(value, bool):
        return int(value)
    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, DateRange):
        return _timestamp(value)
    if isinstance(value, list):
        raise EvalFault
    text = value.strip()
    if not _NUMBER_TEXT.fullmatch(text):
        return None
    if re.fullmatch(r"[+-]?\d{1,15}", text):
        return int(text)
    return float(text)


@lru_cache(maxsize=256)
def js_regex(pattern: str) -> re.Pattern[str]:
    """Compile a JavaScript-style pattern (``(?<name>…)`` groups are translated)."""
    return re.compile(re.sub(r"\(\?<(?![=!])", "(?P<", pattern))


def _js_replace(text: str, pattern: str, replacement: str, count: int) -> str:
    """``String.replace`` with a regex: ``$1``, ``$&`` and ``$$`` work as in JavaScript."""
    regex = js_regex(pattern)

    def expand(match: re.Match[str]) -> str:
        out: list[str] = []
        i = 0
        while i < len(replacement):
            char = replacement[i]
            nxt = replacement[i + 1 : i + 2]
            if char == "$" and nxt == "$":
                out.append("$")
                i += 2
            elif char == "$" and nxt == "&":
                out.append(match.group(0))
                i += 2
            elif char == "$" and nxt.isdigit():
                two = replacement[i + 1 : i + 3]
                if len(two) == 2 and two.isdigit() and 1 <= int(two) <= regex.groups:
                    out.append(match.group(int(two)) or "")
                    i += 3
                elif 1 <= int(nxt) <= regex.groups:
                    out.append(match.group(int(nxt)) or "")
                    i += 2
                else:
                    out.append(char)
                    i += 1
            else:
                out.append(char)
                i += 1
        return "".join(out)

    return regex.sub(expand, text, count=count)


def _substring(text: str, start: int, end: int | None) -> str:
    """JavaScript's ``substring``: negatives are 0, out-of-order bounds are swapped."""
    size = len(text)
    lo = min(max(start, 0), size)
    hi = size if end is None else min(max(end, 0), size)
    return text[min(lo, hi) : max(lo, hi)]


def _empty(value: Value) -> bool:
    return value is None or value in ("", 0, False) or value == []


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True, slots=True)
class Arg:
    """What the type checker knows about one call argument."""

    kind: Kind
    literal: str | int | float | bool | None  # the value when the argument is a literal
    pos: int


@dataclass(frozen=True, slots=True)
class Overload:
    """One accepted argument list: a kind set per parameter, optional tail, repeatable rest."""

    params: tuple[frozenset[Kind], ...]
    result: Kind
    required: int
    rest: frozenset[Kind] | None = None

    def accepts(self, args: Sequence[Arg]) -> bool:
        """Whether the argument kinds fit this overload."""
        if len(args) < self.required or (self.rest is None and len(args) > len(self.params)):
            return False
        for i, arg in enumerate(args):
            allowed = self.params[i] if i < len(self.params) else self.rest
            if allowed is None or arg.kind not in allowed:
                return False
        return True

    def describe(self) -> str:
        """The overload as ``(string, number[, number])`` for error messages."""
        names = ["|".join(sorted(p)) for p in self.params]
        text = ", ".join(names[: self.required])
        for name in names[self.required :]:
            text += f"[, {name}]" if text else f"[{name}]"
        if self.rest is not None:
            text += f", {'|'.join(sorted(self.rest))}..."
        return f"({text})"


Impl: TypeAlias = Callable[[list[Value], datetime], Value]
LiteralCheck: TypeAlias = Callable[[Sequence[Arg]], None]


@dataclass(frozen=True, slots=True)
class Func:
    """One formula function: overloads for the type checker, ``impl`` for the evaluator.

    Unless ``accepts_empty``, an empty (``None``) argument makes the result empty without
    calling ``impl``.
    """

    name: str
    overloads: tuple[Overload, ...]
    impl: Impl
    accepts_empty: bool = False
    literal_check: LiteralCheck | None = None

    @property
    def min_args(self) -> int:
        """Fewest arguments any overload takes."""
        return min(o.required for o in self.overloads)

    @property
    def max_args(self) -> int | None:
        """Most arguments any overload takes; ``None`` when one is variadic."""
        if any(o.rest is not None for o in self.overloads):
            return None
        return max(len(o.params) for o in self.overloads)

    def check(self, args: Sequence[Arg], pos: int) -> Kind:
        """The result kind for these argument kinds; a type error names the bad argument."""
        for overload in self.overloads:
            if overload.accepts(args):
                if self.literal_check is not None:
                    self.literal_check(args)
                return overload.result
        if len(self.overloads) == 1:
            overload = self.overloads[0]
            for i, arg in enumerate(args):
                allowed = overload.params[i] if i < len(overload.params) else overload.rest
                if allowed is not None and arg.kind not in allowed:
                    expected = " or ".join(sorted(allowed))
                    raise error(
                        f"Type error: argument {i + 1} of {self.name}() must be {expected}, "
                        f"got {arg.kind}",
                        arg.pos,
                    )
        got = ", ".join(a.kind for a in args)
        forms = " or ".join(f"{self.name}{o.describe()}" for o in self.overloads)
        raise error(f"Type error: {self.name}() does not take ({got}); expected {forms}", pos)


S: frozenset[Kind] = frozenset({"string"})
N: frozenset[Kind] = frozenset({"number"})
B: frozenset[Kind] = frozenset({"boolean"})
D: frozenset[Kind] = frozenset({"date"})
L: frozenset[Kind] = frozenset({"list"})
ANY: frozenset[Kind] = ALL_KINDS


def _o(
    result: Kind,
    *params: frozenset[Kind],
    required: int | None = None,
    rest: frozenset[Kind] | None = None,
) -> Overload:
    return Overload(params, result, len(params) if required is None else required, rest)


def _check_unit(index: int) -> LiteralCheck:
    def check(args: Sequence[Arg]) -> None:
        arg = args[index]
        if isinstance(arg.literal, str):
            try:
                _unit(arg.literal)
            except EvalFault:
                units = ", ".join(sorted(UNITS))
                message = f"Unknown date unit {arg.literal!r}; use one of {units}"
                raise error(message, arg.pos) from None

    return check


def _check_regex(args: Sequence[Arg]) -> None:
    arg = args[1]
    if isinstance(arg.literal, str):
        try:
            js_regex(arg.literal)
        except re.error as exc:
            raise error(f"Invalid regular expression {arg.literal!r}: {exc}", arg.pos) from None


def _math(fn: Callable[[float], float]) -> Impl:
    return lambda a, _: fn(as_num(a[0]))


def _date_part(fn: Callable[[datetime], int]) -> Impl:
    return lambda a, _: fn(instant(as_date(a[0]).start))


def _concat(args: list[Value], _: datetime) -> Value:
    if all(isinstance(a, list) for a in args):
        return [item for a in args for item in as_list(a)]
    return "".join(as_str(a) for a in args)


def _join(args: list[Value], _: datetime) -> Value:
    if isinstance(args[0], list):
        return as_str(args[1]).join(args[0])
    return as_str(args[0]).join(as_str(a) for a in args[1:])


def _contains(args: list[Value], _: datetime) -> Value:
    needle = as_str(args[1])
    if isinstance(args[0], list):
        return needle in args[0]
    return needle in as_str(args[0])


def _slice(args: list[Value], _: datetime) -> Value:
    start = as_int(args[1])
    end = as_int(args[2]) if len(args) > 2 else None
    if isinstance(args[0], list):
        return args[0][start:end]
    return as_str(args[0])[start:end]


def _length(args: list[Value], _: datetime) -> Value:
    value = args[0]
    return len(value) if isinstance(value, str | list) else len(as_str(value))


def _split(args: list[Value], _: datetime) -> Value:
    text, sep = as_str(args[0]), as_str(args[1])
    return text.split(sep) if sep else list(text)


def _at(args: list[Value], _: datetime) -> Value:
    items, index = as_list(args[0]), as_int(args[1])
    return items[index] if -len(items) <= index < len(items) else None


def _round(args: list[Value], _: datetime) -> Value:
    value = as_num(args[0])
    places = as_int(args[1]) if len(args) > 1 else 0
    if places == 0:
        return math.floor(value + 0.5)
    if places > 0:
        if isinstance(value, int) or places > 15:
            return value
        factor: int = 10**places
        return math.floor(value * factor + 0.5) / factor
    step: int = 10 ** min(-places, 400)
    return math.floor(value / step + 0.5) * step


def _minmax(pick: Callable[[list[int | float]], int | float]) -> Impl:
    return lambda a, _: pick([as_num(v) for v in a])


def _from_timestamp(args: list[Value], _: datetime) -> Value:
    return DateRange(_EPOCH + timedelta(milliseconds=as_num(args[0])))


def _today(_args: list[Value], now: datetime) -> Value:
    return DateRange(now.date())


def _date_range(args: list[Value], _: datetime) -> Value:
    return DateRange(as_date(args[0]).start, as_date(args[1]).start)


def _sqrt(value: float) -> float:
    return math.sqrt(value)


def _cbrt(value: float) -> float:
    return math.copysign(abs(value) ** (1 / 3), value)


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


_FUNCS: tuple[Func, ...] = (
    # logic (if, ifs, and, or, not, let and lets are special forms in the parser)
    Func("empty", (_o("boolean", ANY),), lambda a, _: _empty(a[0]), accepts_empty=True),
    # text
    Func(
        "concat",
        (_o("string", S, rest=S, required=1), _o("list", L, rest=L, required=1)),
        _concat,
    ),
    Func("join", (_o("string", L, S), _o("string", S, S, rest=S)), _join),
    Func("length", (_o("number", S), _o("number", L)), _length),
    Func("lower", (_o("string", S),), lambda a, _: as_str(a[0]).lower()),
    Func("upper", (_o("string", S),), lambda a, _: as_str(a[0]).upper()),
    Func("trim", (_o("string", S),), lambda a, _: as_str(a[0]).strip()),
    Func("contains", (_o("boolean", S, S), _o("boolean", L, S)), _contains),
    Func(
        "replace",
        (_o("string", S, S, S),),
        lambda a, _: _js_replace(as_str(a[0]), as_str(a[1]), as_str(a[2]), 1),
        literal_check=_check_regex,
    ),
    Func(
        "replaceAll",
        (_o("string", S, S, S),),
        lambda a, _: _js_replace(as_str(a[0]), as_str(a[1]), as_str(a[2]), 0),
        literal_check=_check_regex,
    ),
    Func(
        "test",
        (_o("boolean", S, S),),
        lambda a, _: js_regex(as_str(a[1])).search(as_str(a[0])) is not None,
        literal_check=_check_regex,
    ),
    Func("slice", (_o("string", S, N, N, required=2), _o("list", L, N, N, required=2)), _slice),
    Func(
        "substring",
        (_o("string", S, N, N, required=2),),
        lambda a, _: _substring(as_str(a[0]), as_int(a[1]), as_int(a[2]) if len(a) > 2 else None),
    ),
    Func("split", (_o("list", S, S),), _split),
    Func("format", (_o("string", ANY),), lambda a, _: format_value(a[0]), accepts_empty=True),
    Func(
        "toNumber",
        (_o("number", frozenset({"string", "number", "boolean", "date"})),),
        lambda a, _: to_number(a[0]),
        accepts_empty=True,
    ),
    # lists
    Func("at", (_o("string", L, N),), _at),
    Func("first", (_o("string", L),), lambda a, _: _at([a[0], 0], _)),
    Func("last", (_o("string", L),), lambda a, _: _at([a[0], -1], _)),
    Func("sort", (_o("list", L),), lambda a, _: sorted(as_list(a[0]))),
    Func("reverse", (_o("list", L),), lambda a, _: as_list(a[0])[::-1]),
    # numbers
    Func("abs", (_o("number", N),), _math(abs)),
    Func("round", (_o("number", N, N, required=1),), _round),
    Func("floor", (_o("number", N),), _math(math.floor)),
    Func("ceil", (_o("number", N),), _math(math.ceil)),
    Func("sqrt", (_o("number", N),), _math(_sqrt)),
    Func("cbrt", (_o("number", N),), _math(_cbrt)),
    Func("exp", (_o("number", N),), _math(math.exp)),
    Func("ln", (_o("number", N),), _math(math.log)),
    Func("log10", (_o("number", N),), _math(math.log10)),
    Func("log2", (_o("number", N),), _math(math.log2)),
    Func("sign", (_o("number", N),), _math(_sign)),
    Func("pow", (_o("number", N, N),), lambda a, _: power(as_num(a[0]), as_num(a[1]))),
    Func("mod", (_o("number", N, N),), lambda a, _: js_remainder(as_num(a[0]), as_num(a[1]))),
    Func("min", (_o("number", N, rest=N, required=1),), _minmax(min)),
    Func("max", (_o("number", N, rest=N, required=1),), _minmax(max)),
    Func("sum", (_o("number", N, rest=N, required=1),), _minmax(sum)),
    # dates
    Func("now", (_o("date"),), lambda _a, now: DateRange(now)),
    Func("today", (_o("date"),), _today),
    Func(
        "dateAdd",
        (_o("date", D, N, S),),
        lambda a, _: date_add(as_date(a[0]), as_num(a[1]), as_str(a[2])),
        literal_check=_check_unit(2),
    ),
    Func(
        "dateSubtract",
        (_o("date", D, N, S),),
        lambda a, _: date_add(as_date(a[0]), -as_num(a[1]), as_str(a[2])),
        literal_check=_check_unit(2),
    ),
    Func(
        "dateBetween",
        (_o("number", D, D, S),),
        lambda a, _: date_between(as_date(a[0]), as_date(a[1]), as_str(a[2])),
        literal_check=_check_unit(2),
    ),
    Func("dateRange", (_o("date", D, D),), _date_range),
    Func("dateStart", (_o("date", D),), lambda a, _: DateRange(as_date(a[0]).start)),
    Func("start", (_o("date", D),), lambda a, _: DateRange(as_date(a[0]).start)),
    Func(
        "dateEnd",
        (_o("date", D),),
        lambda a, _: DateRange(as_date(a[0]).end or as_date(a[0]).start),
    ),
    Func("end", (_o("date", D),), lambda a, _: DateRange(as_date(a[0]).end or as_date(a[0]).start)),
    Func(
        "formatDate",
        (_o("string", D, S),),
        lambda a, _: format_date(as_date(a[0]).start, as_str(a[1])),
    ),
    Func("parseDate", (_o("date", S),), lambda a, _: _parse_date(as_str(a[0]))),
    Func("year", (_o("number", D),), _date_part(lambda d: d.year)),
    Func("month", (_o("number", D),), _date_part(lambda d: d.month)),
    Func("week", (_o("number", D),), _date_part(lambda d: d.isocalendar().week)),
    Func("day", (_o("number", D),), _date_part(lambda d: d.isoweekday())),
    Func("date", (_o("number", D),), _date_part(lambda d: d.day)),
    Func("hour", (_o("number", D),), _date_part(lambda d: d.hour)),
    Func("minute", (_o("number", D),), _date_part(lambda d: d.minute)),
    Func("timestamp", (_o("number", D),), lambda a, _: _timestamp(as_date(a[0]))),
    Func("fromTimestamp", (_o("date", N),), _from_timestamp),
)

FUNCTIONS: dict[str, Func] = {f.name: f for f in _FUNCS}
"""Every ordinary function by name (special forms live in the parser)."""
