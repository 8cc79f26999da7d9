"""Rate limiter and fault plans, with an injected clock (no sleeping)."""

from __future__ import annotations

import pytest

from devfactory.emulator.clock import Clock
from devfactory.emulator.faults import Fault, FaultPlan, RateLimiter, parse_fault_spec


class FrozenClock(Clock):
    """A clock that moves only when told."""

    def __init__(self) -> None:
        super().__init__()
        self.t = 1000.0

    def now(self) -> float:
        return self.t


class TestRateLimiter:
    def test_burst_then_wait_then_refill(self) -> None:
        """Burst tokens go at once; the wait is whole seconds; time refills the bucket."""
        clock = FrozenClock()
        limiter = RateLimiter(clock, rate=3, burst=3)
        assert [None, None, None] == [limiter.take("a") for _ in range(3)]
        assert 1 == limiter.take("a")
        clock.t += 0.34
        assert limiter.take("a") is None

    def test_buckets_are_per_key(self) -> None:
        """One integration's burst does not limit another's."""
        limiter = RateLimiter(FrozenClock(), rate=1, burst=1)
        assert limiter.take("a") is None and limiter.take("b") is None
        assert limiter.take("a") is not None

    def test_retry_after_reflects_slow_rates(self) -> None:
        """At 0.1 request/s an empty bucket asks for up to 10 seconds."""
        limiter = RateLimiter(FrozenClock(), rate=0.1, burst=1)
        limiter.take("a")
        assert 10 == limiter.take("a")

    def test_disabled_limiter_allows_everything(self) -> None:
        """Without a rate, nothing is limited."""
        limiter = RateLimiter(FrozenClock())
        assert all(limiter.take("a") is None for _ in range(1000))


class TestFaultPlan:
    def test_script_is_consumed_in_order_for_matching_requests(self) -> None:
        """Scripted faults apply to matching requests only, once each (or ``times``)."""
        plan = FaultPlan(script=[Fault("503", method="POST", times=2), Fault("500")])
        assert plan.pick("GET", "/v1/users").kind == "500"  # type: ignore[union-attr]
        assert "503" == plan.pick("POST", "/v1/pages").kind  # type: ignore[union-attr]
        assert "503" == plan.pick("POST", "/v1/pages").kind  # type: ignore[union-attr]
        assert plan.pick("POST", "/v1/pages") is None
        assert {"500": 1, "503": 2} == plan.injected

    def test_probability_zero_and_one(self) -> None:
        """Probability 0 never fires, 1 always does."""
        plan = FaultPlan(
            rules=[Fault("500", probability=0.0), Fault("504", probability=1.0, path="^/v1/search")]
        )
        assert plan.pick("GET", "/v1/users") is None
        assert "504" == plan.pick("POST", "/v1/search").kind  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        ("spec", "kind", "probability", "method", "path"),
        [
            ("503:0.1", "503", 0.1, None, None),
            ("drop", "drop", 1.0, None, None),
            ("429:0.5@POST ^/v1/pages", "429", 0.5, "POST", "^/v1/pages"),
        ],
    )
    def test_cli_specs(
        self, spec: str, kind: str, probability: float, method: str | None, path: str | None
    ) -> None:
        """KIND[:PROBABILITY][@METHOD /regex] parses."""
        fault = parse_fault_spec(spec)
        assert (kind, probability, method, path) == (
            fault.kind,
            fault.probability,
            fault.method,
            fault.path,
        )

    @pytest.mark.parametrize("spec", ["boom", "503:2", "503:x"])
    def test_bad_cli_specs(self, spec: str) -> None:
        """Unknown kinds and bad probabilities are errors."""
        with pytest.raises(ValueError):
            parse_fault_spec(spec)
