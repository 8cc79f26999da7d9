"""Redaction of secrets from log lines and other text shown to people.

Four kinds of rule, all applied before any log sink sees a line:

1. **Key names.** A field whose key names a secret (``token``, ``secret``, ``password``,
   ``passwd``, ``api_key``/``apikey``, ``authorization``, ``cookie``/``set-cookie``,
   ``x-api-key``, ``private_key``, ``credential``), in any case, as a whole word of the key
   (``access_token``, ``X-Api-Key``, ``clientSecret``; not ``max_tokens``), at any depth of
   nested dicts and lists, has its value replaced by ``"[REDACTED]"``.
2. **Value patterns.** Notion tokens (``secret_…``, ``ntn_…``), ``Bearer <token>``, JWTs,
   ``sk-``/``sk-ant-`` keys, AWS access key ids (``AKIA…``/``ASIA…``), the password of a URL
   (``scheme://user:pw@host``) and ``api_key=…``/``token=…``/``password=…`` in text.
3. **Registered secrets** (:func:`register_secret`): the tokens in use, redacted wherever they
   occur, whatever they look like.
4. **Extra regexes** (:func:`set_patterns`, the ``DEVFACTORY_REDACT`` setting): every match.

Speed: rules 2 to 4 run as one compiled regex of cheap literal *triggers* over each string value
(a regex of all the precise patterns costs ~13 µs on a typical line, the triggers a fraction
of a µs); only when a trigger fires are the precise rules applied (:func:`redact_value`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from devfactory.errors import ConfigError

__all__ = [
    "REDACTED",
    "is_sensitive_key",
    "needs_redaction",
    "redact_keys",
    "redact_text",
    "redact_value",
    "register_secret",
    "reset",
    "set_patterns",
]

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 6

_KEY_WORDS = re.compile(
    r"(?:^|_)(?:token|secrets?|passwords?|passwd|api_key|apikey|authorization|cookies?"
    r"|set_cookie|x_api_key|private_key|credentials?)(?:_|$)"
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[-.\s]+")
_KEY_CACHE: dict[str, bool] = {}
_KEY_CACHE_MAX = 4096

# (pattern, replacement): a replacement may keep a prefix group (``\1``) so the reader still
# sees what was there ("Bearer [REDACTED]", "postgresql://user:[REDACTED]@host").
_VALUE_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"secret_[A-Za-z0-9]{40,}", REDACTED),
        (r"ntn_[A-Za-z0-9]{20,}", REDACTED),
        (r"(?i)(bearer\s+)[A-Za-z0-9._~+/-]{8,}=*", rf"\1{REDACTED}"),
        (r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*", REDACTED),
        (r"(?<![A-Za-z0-9])sk-(?:ant-)?[A-Za-z0-9_-]{20,}", REDACTED),
        (r"(?:AKIA|ASIA)[0-9A-Z]{16}", REDACTED),
        (r"(://[^\s/:@\"'\\]*:)[^\s/@\"'\\]+@", rf"\1{REDACTED}@"),
        (
            r"(?i)((?<![A-Za-z0-9])(?:api[_-]?key|token|secret|password|passwd|pwd)=)"
            r"[^\s&\"'\\,;]+",
            rf"\1{REDACTED}",
        ),
    )
)
# Literals every match of a value rule contains: a string without any of them needs no work.
_TRIGGERS = (
    "secret_",
    "ntn_",
    "earer",
    "EARER",
    "eyJ",
    "sk-",
    "AKIA",
    "ASIA",
    "@",
    "key=",
    "KEY=",
    "token=",
    "TOKEN=",
    "secret=",
    "SECRET=",
    "password=",
    "PASSWORD=",
    "passwd=",
    "pwd=",
)


@dataclass(frozen=True)
class _Rules:
    """One immutable generation of rules 2 to 4 (swapped whole, so readers need no lock)."""

    secrets: tuple[str, ...]
    extra: tuple[re.Pattern[str], ...]
    trigger: Callable[[str], re.Match[str] | None]


def _build(secrets: tuple[str, ...], extra: tuple[re.Pattern[str], ...]) -> _Rules:
    literals = [re.escape(s) for s in (*_TRIGGERS, *secrets)]
    return _Rules(secrets, extra, re.compile("|".join(literals)).search)


_lock = threading.Lock()
_rules = _build((), ())


def is_sensitive_key(key: str) -> bool:
    """Whether a field named ``key`` holds a secret (rule 1); cached per key name."""
    hit = _KEY_CACHE.get(key)
    if hit is None:
        words = _SEPARATORS.sub("_", _CAMEL.sub("_", key)).lower()
        hit = _KEY_WORDS.search(words) is not None
        if len(_KEY_CACHE) < _KEY_CACHE_MAX:
            _KEY_CACHE[key] = hit
    return hit


def redact_keys(value: Any) -> Any:
    """``value`` with every sensitive key's value replaced, at any depth (rule 1 only).

    Dicts, lists and tuples are copied (the caller's objects are never changed); other
    values come back as they are.
    """
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and is_sensitive_key(k) else redact_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_keys(v) for v in value]
    return value


def register_secret(value: str) -> bool:
    """Redact ``value`` wherever it occurs from now on (rule 3).

    Values shorter than 6 characters are refused (they would redact ordinary words) and
    return ``False``.
    """
    global _rules
    if len(value) < MIN_SECRET_LENGTH:
        return False
    with _lock:
        if value not in _rules.secrets:
            # Longest first, so a secret containing another is replaced whole.
            secrets = tuple(sorted((*_rules.secrets, value), key=len, reverse=True))
            _rules = _build(secrets, _rules.extra)
    return True


def set_patterns(patterns: Iterable[str]) -> None:
    """Replace the extra regexes (rule 4); an invalid one is a :class:`ConfigError`."""
    global _rules
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ConfigError(f"invalid redaction pattern {pattern!r}: {exc}") from exc
        if compiled[-1].search(""):
            raise ConfigError(f"redaction pattern {pattern!r} matches the empty string")
    with _lock:
        _rules = _build(_rules.secrets, tuple(compiled))


def reset() -> None:
    """Forget the registered secrets and extra regexes (rules 1 and 2 always apply)."""
    global _rules
    with _lock:
        _rules = _build((), ())


def needs_redaction(text: str) -> bool:
    """A cheap test: ``False`` means :func:`redact_text` would return ``text`` unchanged."""
    rules = _rules
    if rules.trigger(text) is not None:
        return True
    if not rules.extra:
        return False
    return any(rx.search(text) is not None for rx in rules.extra)


def redact_text(text: str) -> str:
    """``text`` with every secret replaced by ``[REDACTED]`` (rules 2 to 4).

    Use it for anything shown to people that may carry a secret: CLI error messages,
    reports, exception text.
    """
    rules = _rules
    if rules.trigger(text) is None and not rules.extra:
        return text
    for secret in rules.secrets:
        text = text.replace(secret, REDACTED)
    for rx, replacement in _VALUE_RULES:
        text = rx.sub(replacement, text)
    for rx in rules.extra:
        text = rx.sub(REDACTED, text)
    return text


def redact_value(value: Any) -> Any:
    """``value`` with all four rules applied at any depth (strings, keys, nested values).

    Meant for JSON-shaped data (what ``orjson.loads`` returns); other objects come back as
    they are.
    """
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = redact_text(k) if isinstance(k, str) else k
            out[key] = REDACTED if isinstance(k, str) and is_sensitive_key(k) else redact_value(v)
        return out
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value
