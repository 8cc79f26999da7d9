"""The executor: back-off, Retry-After, budgets, timeouts, idempotency and rate limiting, with a
manual clock and fake failing calls (no network, no sleeping)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from notion_client.errors import HTTPResponseError

from devfactory.errors import (
    ConflictError,
    InternalServerError,
    ObjectNotFoundError,
    RateLimitedError,
    TransientNotionError,
)
from devfactory.executor import (
    Executor,
    Idempotency,
    ManualClock,
    RedisTokenBucket,
    RetryPolicy,
    TokenBucket,
    bucket_key,
    classify,
    current_attempt,
    limiter_for,
)
from devfactory.notion.api import NotionAPI
from devfactory.obs.metrics import REGISTRY

CODES = {
    404: "object_not_found",
    409: "conflict_error",
    429: "rate_limited",
    500: "internal_server_error",
    503: "service_unavailable",
}


def http_error(status: int, retry_after: str | None = None) -> HTTPResponseError:
    """The error notion-client raises for an error answer."""
    headers = httpx.Headers({"retry-after": retry_after} if retry_after is not None else {})
    return HTTPResponseError(CODES[status], status, f"status {status}", headers, "{}")


class Flaky:
    """A call that raises the given errors in turn, then answers ``result``."""

    def __init__(self, *errors: Exception, result: Any = "ok") -> None:
        self.errors = list(errors)
        self.result = result
        self.calls = 0
        self.attempts: list[int] = []

    async def __call__(self) -> Any:
        self.calls += 1
        self.attempts.append(current_attempt())
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def run(
    fn: Callable[[], Awaitable[Any]],
    *,
    idempotency: Idempotency = Idempotency.SAFE,
    resolve: Callable[[], Awaitable[Any]] | None = None,
    policy: RetryPolicy | None = None,
    rng: Callable[[], float] = lambda: 0.5,
    clock: ManualClock | None = None,
    executor: Executor | None = None,
) -> Any:
    """Run ``fn`` through an executor on a manual clock."""
    executor = executor or Executor(policy, clock or ManualClock(), rng)
    return asyncio.run(
        executor.run(fn, idempotency=idempotency, resolve=resolve, label="test call")
    )


def test_backoff_doubles_from_base_with_full_jitter() -> None:
    """Each wait is rng() times base * 2**(failures-1): 0.05, 0.1, 0.2, 0.4 at rng = 0.5."""
    clock = ManualClock()
    fn = Flaky(*(http_error(500) for _ in range(4)))
    assert "ok" == run(fn, clock=clock)
    assert [0.05, 0.1, 0.2, 0.4] == clock.sleeps
    assert 5 == fn.calls


def test_backoff_never_exceeds_the_cap() -> None:
    """However many failures, a wait stays below ``cap`` (and at rng = 0 it is zero)."""
    policy = RetryPolicy(attempts=12, base=0.1, cap=2.0)
    clock = ManualClock()
    run(Flaky(*(http_error(503) for _ in range(11))), policy=policy, clock=clock, rng=lambda: 1.0)
    assert 2.0 == max(clock.sleeps) and [0.1, 0.2, 0.4, 0.8, 1.6, 2.0] == clock.sleeps[:6]
    assert all(0 == policy.backoff(n, lambda: 0.0) for n in range(1, 20))


def test_jitter_spreads_waits_uniformly_below_the_exponential() -> None:
    """Full jitter: waits are drawn from [0, min(cap, base * 2**n)) by the injected rng."""
    import random

    rng = random.Random(7).random
    policy = RetryPolicy(base=1.0, cap=8.0)
    waits = [policy.backoff(4, rng) for _ in range(2000)]
    assert all(0 <= w < 8.0 for w in waits)
    assert 3.5 < sum(waits) / len(waits) < 4.5  # mean of U(0, 8)


def test_retry_after_of_a_429_is_honoured() -> None:
    """A 429 waits exactly the Retry-After seconds the server asked for, not the back-off."""
    clock = ManualClock()
    assert "ok" == run(Flaky(http_error(429, "7")), clock=clock)
    assert [7.0] == clock.sleeps


def test_retry_after_of_a_503_is_honoured() -> None:
    """A 503 with Retry-After waits that long; a 503 without one backs off."""
    clock = ManualClock()
    run(Flaky(http_error(503, "3"), http_error(503)), clock=clock)
    assert [3.0, 0.1] == clock.sleeps


def test_retry_after_beyond_the_budget_gives_up_at_once() -> None:
    """A Retry-After longer than what is left of the budget ends the call with a clear error."""
    clock = ManualClock()
    fn = Flaky(http_error(429, "120"))
    with pytest.raises(TransientNotionError, match=r"asked to wait 120 s \(Retry-After\)") as info:
        run(fn, policy=RetryPolicy(total=60.0), clock=clock)
    assert [] == clock.sleeps and 1 == fn.calls
    assert isinstance(info.value.__cause__, HTTPResponseError)


def test_budget_of_waiting_is_never_exceeded() -> None:
    """Back-off waits are cut to the budget left; once it is spent the call gives up."""
    clock = ManualClock()
    policy = RetryPolicy(base=0.4, cap=10.0, total=1.0)
    with pytest.raises(TransientNotionError, match="1 s retry budget is spent") as info:
        run(
            Flaky(*(http_error(500) for _ in range(10))),
            policy=policy,
            clock=clock,
            rng=lambda: 1.0,
        )
    assert [0.4, 0.6] == pytest.approx(clock.sleeps)
    assert "InternalServerError" in str(info.value)


def test_attempts_run_out_with_the_last_error_named() -> None:
    """After ``attempts`` tries the error says so and chains the last failure."""
    fn = Flaky(*(http_error(500) for _ in range(3)))
    with pytest.raises(TransientNotionError, match="gave up after 3 attempts") as info:
        run(fn, policy=RetryPolicy(attempts=3))
    assert 3 == fn.calls
    assert "InternalServerError: status 500" in str(info.value)


def test_an_attempt_that_hangs_times_out_and_is_retried() -> None:
    """The per-attempt timeout cancels a hanging attempt; the next attempt answers."""
    calls = 0

    async def hangs_once() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()  # never set: only the timeout ends it
        return "answered"

    assert "answered" == run(hangs_once, policy=RetryPolicy(timeout=0.01))
    assert 2 == calls


def test_an_unsafe_call_that_timed_out_without_resolver_is_not_retried() -> None:
    """A timeout is ambiguous: a create with no way to check is raised, not made again."""
    calls = 0

    async def hangs() -> str:
        nonlocal calls
        calls += 1
        await asyncio.Event().wait()
        return "never"

    with pytest.raises(TransientNotionError, match="no answer from Notion: TimeoutError"):
        run(hangs, idempotency=Idempotency.UNSAFE, policy=RetryPolicy(timeout=0.01))
    assert 1 == calls


@pytest.mark.parametrize("idempotency", [Idempotency.SAFE, Idempotency.IDEMPOTENT])
@pytest.mark.parametrize(
    "error", [http_error(500), httpx.ReadError("dropped"), httpx.ReadTimeout("slow")]
)
def test_safe_and_idempotent_calls_retry_ambiguous_failures(
    idempotency: Idempotency, error: Exception
) -> None:
    """Reads and updates are simply tried again after a 5xx, a drop or a timeout."""
    fn = Flaky(error)
    assert "ok" == run(fn, idempotency=idempotency)
    assert 2 == fn.calls


def test_unsafe_call_resolved_as_done_is_not_made_again() -> None:
    """When the resolver finds what the failed create made, that is the answer."""
    fn = Flaky(http_error(500), result={"id": "second"})
    found: list[str] = []

    async def resolve() -> dict[str, str]:
        found.append("looked")
        return {"id": "first"}

    executor = Executor(clock=ManualClock())
    result = run(fn, idempotency=Idempotency.UNSAFE, resolve=resolve, executor=executor)
    assert {"id": "first"} == result
    assert 1 == fn.calls and ["looked"] == found
    assert 1 == executor.lookups and 0 == executor.retries


def test_unsafe_call_resolved_as_not_done_is_retried() -> None:
    """When the resolver finds nothing, the create is made again (once)."""
    fn = Flaky(httpx.ReadError("dropped"), result={"id": "made"})

    async def resolve() -> None:
        return None

    executor = Executor(clock=ManualClock())
    assert {"id": "made"} == run(
        fn, idempotency=Idempotency.UNSAFE, resolve=resolve, executor=executor
    )
    assert 2 == fn.calls and 1 == executor.lookups and 1 == executor.retries


def test_unsafe_call_without_resolver_is_raised_after_an_ambiguous_failure() -> None:
    """With no way to tell whether the create happened, the failure is raised as it is."""
    fn = Flaky(http_error(500))
    with pytest.raises(InternalServerError):
        run(fn, idempotency=Idempotency.UNSAFE)
    assert 1 == fn.calls


@pytest.mark.parametrize(
    "error", [http_error(429, "0"), http_error(409), httpx.ConnectError("refused")]
)
def test_unsafe_call_retries_failures_that_prove_nothing_happened(error: Exception) -> None:
    """429, 409 and a refused connection did not write: retried without resolving."""
    fn = Flaky(error)
    executor = Executor(clock=ManualClock())
    assert "ok" == run(fn, idempotency=Idempotency.UNSAFE, executor=executor)
    assert 2 == fn.calls and 0 == executor.lookups


def test_permanent_errors_are_raised_at_once_as_devfactory_errors() -> None:
    """A 404 is not retried and becomes ObjectNotFoundError, chained to the original."""
    clock = ManualClock()
    fn = Flaky(http_error(404))
    with pytest.raises(ObjectNotFoundError) as info:
        run(fn, clock=clock)
    assert 1 == fn.calls and [] == clock.sleeps
    assert isinstance(info.value.__cause__, HTTPResponseError)


def test_unknown_exceptions_pass_through_unchanged() -> None:
    """A bug in the called code is neither retried nor wrapped."""
    fn = Flaky(ValueError("bug"))
    with pytest.raises(ValueError, match="bug"):
        run(fn)
    assert 1 == fn.calls


def test_current_attempt_is_visible_inside_the_call() -> None:
    """The call (and the transport under it) sees which attempt it is, from 1."""
    fn = Flaky(http_error(500), http_error(500))
    run(fn)
    assert [1, 2, 3] == fn.attempts
    assert 1 == current_attempt()


def test_classification_table() -> None:
    """Which failures are transient, which ambiguous, and which carry a wait."""
    assert (True, False, 2.0) == _shape(classify(http_error(429, "2")))
    assert (True, False, 1.0) == _shape(classify(http_error(429)))
    assert (True, False, None) == _shape(classify(http_error(409)))
    assert (True, True, None) == _shape(classify(http_error(500)))
    assert (False, False, None) == _shape(classify(http_error(404)))
    assert (True, True, None) == _shape(classify(TimeoutError()))
    assert (True, False, None) == _shape(classify(httpx.ConnectError("refused")))
    assert (True, False, 5.0) == _shape(classify(RateLimitedError(retry_after=5)))
    assert (True, False, None) == _shape(classify(ConflictError("collision")))
    assert (False, False, None) == _shape(classify(KeyError("x")))


def _shape(failure: Any) -> tuple[bool, bool, float | None]:
    return failure.transient, failure.ambiguous, failure.retry_after


def test_retries_and_tasks_are_counted_in_metrics() -> None:
    """Each retry adds to devfactory_retries_total; each finished call to devfactory_tasks_total."""

    def value(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    retries = value("devfactory_retries_total", {"kind": "notion"})
    failed = value("devfactory_tasks_total", {"status": "failed"})
    succeeded = value("devfactory_tasks_total", {"status": "succeeded"})
    run(Flaky(http_error(500), http_error(500)))
    with pytest.raises(ObjectNotFoundError):
        run(Flaky(http_error(404)))
    assert retries + 2 == value("devfactory_retries_total", {"kind": "notion"})
    assert succeeded + 1 == value("devfactory_tasks_total", {"status": "succeeded"})
    assert failed + 1 == value("devfactory_tasks_total", {"status": "failed"})


def test_policy_rejects_nonsense() -> None:
    """A policy with no attempts or a non-positive timeout is a programming error."""
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="timeout"):
        RetryPolicy(timeout=0)


# --------------------------------------------------------------------------- NotionAPI facade


def test_notion_api_treats_an_empty_resolution_as_not_found() -> None:
    """The facade answers dicts, and a resolver answering {} means "not made yet"."""
    fn = Flaky(http_error(500), result={"id": "made"})

    async def resolve() -> dict[str, Any]:
        return {}

    api = NotionAPI(Executor(clock=ManualClock()))
    answer = asyncio.run(
        api.call(fn, idempotency=Idempotency.UNSAFE, resolve=resolve, label="create")
    )
    assert {"id": "made"} == answer and 1 == api.lookups and 1 == api.retries


def test_notion_api_pages_follow_the_cursor() -> None:
    """results() reads every page, 100 a page, passing next_cursor on."""
    seen: list[dict[str, Any]] = []

    async def query(**body: Any) -> dict[str, Any]:
        seen.append(body)
        if "start_cursor" not in body:
            return {"results": [1, 2], "has_more": True, "next_cursor": "c2"}
        return {"results": [3], "has_more": False, "next_cursor": None}

    api = NotionAPI(Executor(clock=ManualClock()))
    assert [1, 2, 3] == asyncio.run(api.results(query, "read", filter={"x": 1}))
    assert [
        {"filter": {"x": 1}, "page_size": 100},
        {"filter": {"x": 1}, "start_cursor": "c2", "page_size": 100},
    ] == seen


# --------------------------------------------------------------------------- rate limiters


@pytest.mark.parametrize(("rate", "burst"), [(3.0, 3), (10.0, 1), (0.5, 2)])
def test_token_bucket_paces_to_its_rate(rate: float, burst: int) -> None:
    """100 acquisitions take (100 - burst) / rate seconds: the burst is free, then one per
    1/rate."""
    clock = ManualClock()
    bucket = TokenBucket(rate, burst, clock)

    async def take(n: int) -> list[float]:
        return [await bucket.acquire() for _ in range(n)]

    waits = asyncio.run(take(100))
    assert [0.0] * burst == waits[:burst]
    assert (100 - burst) / rate == pytest.approx(sum(waits))
    assert (100 - burst) / rate == pytest.approx(clock.now())
    assert all(w == pytest.approx(1 / rate) for w in waits[burst:])


def test_token_bucket_refills_while_idle() -> None:
    """Time passing without calls saves tokens up to the burst, no more."""
    clock = ManualClock()
    bucket = TokenBucket(2.0, 4, clock)

    async def take(n: int) -> float:
        return sum([await bucket.acquire() for _ in range(n)])

    asyncio.run(take(4))
    clock.advance(100.0)
    assert 0.0 == asyncio.run(take(4))
    assert 0.5 == pytest.approx(asyncio.run(take(1)))


def test_token_bucket_without_rate_never_waits() -> None:
    """rate=None is no limit at all."""
    clock = ManualClock()
    bucket = TokenBucket(None, 1, clock)

    async def take() -> float:
        return sum([await bucket.acquire() for _ in range(1000)])

    assert 0.0 == asyncio.run(take()) and [] == clock.sleeps


def test_limiter_for_chooses_memory_or_redis() -> None:
    """No Redis URL: in memory; a Redis URL: shared, under a key that hides the token."""
    assert isinstance(limiter_for("local", 3.0, None), TokenBucket)
    unlimited = limiter_for("embedded", None, "redis://127.0.0.1:6379/0")
    assert isinstance(unlimited, TokenBucket) and unlimited.rate is None
    shared = limiter_for("https://api.notion.com", 3.0, "redis://h:6379/0", token="ntn_secret123")
    assert isinstance(shared, RedisTokenBucket)
    assert "ntn_secret123" not in shared.key and "ntn_secret123" not in repr(shared)
    assert shared.key == bucket_key("https://api.notion.com", "ntn_secret123")
    assert shared.key != bucket_key("https://api.notion.com", "ntn_other")
    assert 3 == shared.burst


# --------------------------------------------------------------------------- the transport


def test_transport_writes_one_performance_line_per_http_call() -> None:
    """Every HTTP attempt is one "notion call" line with its attempt number and the target,
    counted in the call metrics; no header, body or token reaches the line."""
    from devfactory.notion.transport import NotionTransport
    from devfactory.obs import log

    answers = iter([500, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers), json={"object": "page", "id": "p1"})

    sink = log.MemorySink()
    log.configure(logs_dir=None, sinks=[sink])
    ok_calls = REGISTRY.get_sample_value(
        "devfactory_calls_total", {"kind": "notion", "outcome": "ok"}
    )
    transport = NotionTransport(httpx.MockTransport(handler), target="local-test")

    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=transport) as http:
            answer = await http.get(
                "http://notion.local/v1/pages/p1",
                headers={"Authorization": "Bearer ntn_supersecrettoken1234567890"},
            )
            if answer.status_code >= 500:
                raise http_error(500)
            result: dict[str, Any] = answer.json()
            return result

    try:
        assert "p1" == run(fetch)["id"]
    finally:
        log.shutdown()
    lines = sink.records("performance")
    assert [(500, 1), (200, 2)] == [(r["status"], r["attempt"]) for r in lines]
    first = lines[0]
    assert "notion call" == first["event"] and "notion" == first["component"]
    assert ("GET", "/v1/pages/p1", "local-test") == (
        first["method"],
        first["path"],
        first["target"],
    )
    assert {"duration_s", "rate_limit_wait_s"} <= set(first)
    assert not any(b"ntn_" in line or b"Bearer" in line for line in sink.lines())
    assert 2 == len(transport.log.calls) == transport.log.reads
    assert (ok_calls or 0) + 1 == REGISTRY.get_sample_value(
        "devfactory_calls_total", {"kind": "notion", "outcome": "ok"}
    )
