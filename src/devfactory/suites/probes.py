"""Error handling, proven on a scratch local Notion server: a bad token, rate limits,
timeouts, a missing object and a bad spec give the documented errors, and the executor
retries exactly what docs/executor.md says it retries.

The suite starts its own in-memory server on loopback (:class:`~devfactory.emulator.testing.
LocalNotion`) and injects faults there through the admin API, so the user's target never
sees a fault or a wrong token. Waits for ``Retry-After`` and back-off run on a
:class:`~devfactory.executor.ManualClock`: the probes assert how long the executor *would*
wait without waiting it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from devfactory.config import Settings
from devfactory.deploy.engine import load_workspace
from devfactory.emulator.testing import LocalNotion
from devfactory.errors import (
    ConfigError,
    ObjectNotFoundError,
    SpecError,
    TransientNotionError,
    UnauthorizedError,
)
from devfactory.executor import Executor, Idempotency, ManualClock, RetryPolicy
from devfactory.notion.api import NotionAPI
from devfactory.notion.target import NotionSession, Target, resolve_target

__all__ = ["BAD_SPEC", "Probe", "error_probes"]

BAD_SPEC = """\
apiVersion: devfactory/v1
workspace: probe
databases:
  things:
    title: Things
    properties:
      Name: title
      Size: nmber
"""
"""A spec with one mistake, on line 8: a property type that does not exist."""

_SCRATCH_TOKEN = "ntn_devfactory_suite_probe"
_ME = "/v1/users/me"


@dataclass(frozen=True, slots=True)
class Probe:
    """One documented behaviour, and whether the scratch server showed it."""

    ok: bool
    text: str


def _target(notion: LocalNotion, token: str) -> Target:
    return Target("local", notion.base_url, notion.base_url, token)


def _api(policy: RetryPolicy) -> tuple[NotionAPI, ManualClock]:
    clock = ManualClock()
    return NotionAPI(Executor(policy, clock=clock, rng=lambda: 0.5)), clock


async def _read_me(notion: LocalNotion, api: NotionAPI, token: str | None = None) -> Any:
    async with NotionSession(_target(notion, token or notion.token)) as session:
        return await api.call(
            session.client.users.me, idempotency=Idempotency.SAFE, label="read users/me"
        )


def _script(notion: LocalNotion, **fault: Any) -> None:
    notion.admin("DELETE", "faults")
    notion.admin("POST", "faults/script", {"faults": [{"path": f"^{_ME}$", **fault}]})


async def _bad_token(notion: LocalNotion) -> Probe:
    api, _ = _api(RetryPolicy(attempts=3))
    try:
        await _read_me(notion, api, token="ntn_not_a_valid_token")
    except UnauthorizedError as exc:
        ok = exc.status == 401 and "token is invalid" in str(exc) and api.retries == 0
        return Probe(ok, f"a bad token: UnauthorizedError 401 ({exc}), not retried")
    return Probe(False, "a bad token was accepted")


async def _rate_limited_then_ok(notion: LocalNotion) -> Probe:
    api, clock = _api(RetryPolicy(attempts=3))
    _script(notion, kind="429", retry_after=2, times=1)
    await _read_me(notion, api)
    ok = api.retries == 1 and clock.sleeps == [2.0]
    return Probe(
        ok,
        f"429 with Retry-After: 2 is retried after {clock.sleeps} s and succeeds "
        f"({api.retries} retry)",
    )


async def _rate_limited_past_budget(notion: LocalNotion) -> Probe:
    api, clock = _api(RetryPolicy(attempts=5, total=60.0))
    _script(notion, kind="429", retry_after=120, times=1)
    try:
        await _read_me(notion, api)
    except TransientNotionError as exc:
        ok = "Retry-After" in str(exc) and "RateLimitedError" in str(exc) and not clock.sleeps
        return Probe(ok, f"Retry-After beyond the retry budget gives up at once: {exc}")
    return Probe(False, "a Retry-After of 120 s past a 60 s budget did not give up")


async def _timeout_then_ok(notion: LocalNotion) -> Probe:
    api, _ = _api(RetryPolicy(attempts=3, timeout=0.2))
    _script(notion, kind="slow", delay=1.0, times=1)
    await _read_me(notion, api)
    return Probe(
        api.retries == 1, f"a read that times out is retried and succeeds ({api.retries} retry)"
    )


async def _timeouts_give_up(notion: LocalNotion) -> Probe:
    api, _ = _api(RetryPolicy(attempts=2, timeout=0.2))
    _script(notion, kind="slow", delay=1.0, times=2)
    try:
        await _read_me(notion, api)
    except TransientNotionError as exc:
        ok = "gave up after 2 attempts" in str(exc) and "no answer from Notion" in str(exc)
        return Probe(ok, f"timeouts on every attempt: TransientNotionError ({exc})")
    return Probe(False, "a read that always times out succeeded")


async def _server_error_then_ok(notion: LocalNotion) -> Probe:
    api, _ = _api(RetryPolicy(attempts=3))
    _script(notion, kind="503", times=1)
    await _read_me(notion, api)
    return Probe(api.retries == 1, f"503 on a read is retried and succeeds ({api.retries} retry)")


async def _not_found(notion: LocalNotion) -> Probe:
    api, _ = _api(RetryPolicy(attempts=3))
    async with NotionSession(_target(notion, notion.token)) as session:
        fn = partial(session.client.pages.retrieve, "0" * 32)
        try:
            await api.call(fn, idempotency=Idempotency.SAFE, label="read a missing page")
        except ObjectNotFoundError as exc:
            ok = exc.status == 404 and api.retries == 0
            return Probe(ok, f"a missing page: ObjectNotFoundError 404, not retried ({exc})")
    return Probe(False, "a missing page was found")


def _no_token(workdir: Path) -> Probe:
    settings = Settings(home=workdir, emulator_token=None, notion_token=None)
    try:
        resolve_target(settings, "http://127.0.0.1:9")
    except ConfigError as exc:
        return Probe("DEVFACTORY_EMULATOR_TOKEN" in str(exc), f"--target without a token: {exc}")
    return Probe(False, "--target without a token was accepted")


def _bad_spec(workdir: Path) -> Probe:
    path = workdir / "probe.yaml"
    path.write_text(BAD_SPEC)
    try:
        load_workspace(path, None)
    except SpecError as exc:
        first = str(exc).splitlines()[0]
        ok = re.match(rf"^\S*{re.escape(path.name)}:8:\d+: ", first) is not None
        return Probe(ok, f"a bad spec: SpecError at file:line:col ({first})")
    return Probe(False, "a spec with an unknown property type was accepted")


async def error_probes(workdir: Path) -> list[Probe]:
    """Run every probe on a fresh in-memory server; ``workdir`` takes the scratch files."""
    probes: list[Probe] = [_no_token(workdir), _bad_spec(workdir)]
    steps: list[Callable[[LocalNotion], Awaitable[Probe]]] = [
        _bad_token,
        _rate_limited_then_ok,
        _rate_limited_past_budget,
        _server_error_then_ok,
        _timeout_then_ok,
        _timeouts_give_up,
        _not_found,
    ]
    with LocalNotion.start(token=_SCRATCH_TOKEN) as notion:
        for step in steps:
            try:
                probes.append(await step(notion))
            except Exception as exc:  # an unexpected error is this probe's failure, not the suite's
                probes.append(
                    Probe(False, f"{step.__name__.strip('_')}: {type(exc).__name__}: {exc}")
                )
    return probes
