"""Realism on demand: a Notion-like rate limit and injected faults, off by default.

The rate limit is a token bucket per integration (``rate`` requests/s on average, ``burst``
at once); an empty bucket answers 429 ``rate_limited`` with an integer ``Retry-After``.

Faults come two ways: *by probability* (each request matching a rule fails with that
probability, from a seeded RNG so runs repeat) or *by script* (a queue consumed in order by
matching requests: "the next 2 POSTs to /v1/pages get 503, then one commit-then-fail").
Kinds: ``409`` (conflict_error), ``429``, ``500``, ``503``, ``504`` (an error before the
handler runs), ``slow``
(delay, then handle normally), ``drop`` (the connection closes with no response) and
``commit_then_fail`` (the handler runs and commits, then the client gets a 500 — the write
happened but the answer was lost).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from devfactory.emulator import validation as v
from devfactory.emulator.clock import Clock

__all__ = ["FAULT_KINDS", "Fault", "FaultPlan", "RateLimiter", "parse_fault_spec"]

FAULT_KINDS = ("409", "429", "500", "503", "504", "slow", "drop", "commit_then_fail")


@dataclass(slots=True)
class Fault:
    """One fault rule: what happens, to which requests, how often."""

    kind: str
    probability: float = 1.0
    method: str | None = None
    path: str | None = None  # a regular expression searched in the request path
    delay: float = 2.0  # seconds, for "slow"
    retry_after: int = 1  # seconds, for "429"
    times: int | None = None  # scripted faults: how many matching requests it applies to

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule applies to a request."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or re.search(self.path, path) is not None

    def to_json(self) -> dict[str, Any]:
        """The rule as the admin API shows it."""
        return asdict(self)


def parse_fault(raw: Any, path: str) -> Fault:
    """A fault rule from the admin API's JSON."""
    item = v.obj(raw, path)
    kind = v.choice(v.member(item, "kind", path), f"{path}.kind", FAULT_KINDS)
    fault = Fault(kind=kind)
    if "probability" in item:
        fault.probability = float(v.number(item["probability"], f"{path}.probability"))
        if not 0.0 <= fault.probability <= 1.0:
            v.fail(f"{path}.probability", "should be between 0 and 1", item["probability"])
    if item.get("method") is not None:
        fault.method = v.choice(
            str(item["method"]).upper(), f"{path}.method", ("GET", "POST", "PATCH", "DELETE", "PUT")
        )
    if item.get("path") is not None:
        fault.path = v.string(item["path"], f"{path}.path", max_length=500)
        try:
            re.compile(fault.path)
        except re.error:
            v.fail(f"{path}.path", "should be a valid regular expression", fault.path)
    if "delay" in item:
        fault.delay = float(v.number(item["delay"], f"{path}.delay"))
        if not 0.0 <= fault.delay <= 120.0:
            v.fail(f"{path}.delay", "should be between 0 and 120 seconds", item["delay"])
    if "retry_after" in item:
        fault.retry_after = v.integer(
            item["retry_after"], f"{path}.retry_after", minimum=0, maximum=3600
        )
    if item.get("times") is not None:
        fault.times = v.integer(item["times"], f"{path}.times", minimum=1, maximum=1_000_000)
    return fault


def parse_fault_spec(spec: str) -> Fault:
    """A CLI fault spec ``KIND[:PROBABILITY][@METHOD /path-regex]``, e.g. ``503:0.1``."""
    target = None
    if "@" in spec:
        spec, target = spec.split("@", 1)
    kind, _, prob = spec.partition(":")
    fault = Fault(kind=kind.strip())
    if fault.kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {fault.kind!r}; choose from {', '.join(FAULT_KINDS)}")
    if prob:
        fault.probability = float(prob)
        if not 0.0 <= fault.probability <= 1.0:
            raise ValueError("fault probability must be between 0 and 1")
    if target:
        method, _, path = target.strip().partition(" ")
        fault.method = method.upper() or None
        fault.path = path.strip() or None
    return fault


@dataclass(slots=True)
class FaultPlan:
    """Probabilistic rules plus a script consumed in order."""

    rules: list[Fault] = field(default_factory=list)
    script: list[Fault] = field(default_factory=list)
    seed: int | None = None
    injected: dict[str, int] = field(default_factory=dict)
    _rng: random.Random = field(default_factory=random.Random)

    def reseed(self, seed: int | None) -> None:
        """Restart the RNG (same seed, same faults)."""
        self.seed = seed
        self._rng = random.Random(seed)

    def pick(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any (script first, then rules)."""
        for index, fault in enumerate(self.script):
            if fault.matches(method, path):
                if fault.times is not None and fault.times > 1:
                    fault.times -= 1
                else:
                    del self.script[index]
                self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
                return fault
        for fault in self.rules:
            if fault.matches(method, path) and self._rng.random() < fault.probability:
                self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
                return fault
        return None

    def to_json(self) -> dict[str, Any]:
        """The plan as the admin API shows it."""
        return {
            "rules": [f.to_json() for f in self.rules],
            "script": [f.to_json() for f in self.script],
            "seed": self.seed,
            "injected": dict(self.injected),
        }


class RateLimiter:
    """Token buckets per key: ``rate`` tokens/s refill, ``burst`` capacity."""

    def __init__(self, clock: Clock, rate: float | None = None, burst: int | None = None) -> None:
        self.clock = clock
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self.limited = 0

    @property
    def enabled(self) -> bool:
        """Whether a limit is set."""
        return self.rate is not None and self.rate > 0

    def configure(self, rate: float | None, burst: int | None = None) -> None:
        """Change the limit (None turns it off); buckets start full again."""
        self.rate = rate
        self.burst = burst
        self._buckets.clear()

    def capacity(self) -> float:
        """Bucket size: ``burst``, or by default ten seconds' worth, like Notion's bursts."""
        assert self.rate is not None
        return float(self.burst) if self.burst else max(1.0, self.rate * 10)

    def take(self, key: str) -> int | None:
        """Spend one token; None if allowed, else the whole seconds to wait."""
        if not self.enabled:
            return None
        assert self.rate is not None
        now = self.clock.now()
        capacity = self.capacity()
        tokens, last = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        self.limited += 1
        return max(1, math.ceil((1.0 - tokens) / self.rate))

    def to_json(self) -> dict[str, Any]:
        """The limit as the admin API shows it."""
        return {
            "rate": self.rate,
            "burst": self.capacity() if self.enabled else None,
            "limited": self.limited,
        }
