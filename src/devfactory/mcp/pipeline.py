"""The path of every tool call through the gateway.

authenticate (done by the transport; here: permissions) → operation id → gate (with the
server's own assessment) → executor (timeout; retries only for read-only or idempotent
tools) → downstream server → secrets check → one audit line, metrics and events.

Results the model should read (permission refused, halted for approval, denied, secret
blocked, server unavailable) are ``CallToolResult(is_error=True)`` with a plain sentence and
structured details; nothing is a traceback. A halted call is recorded as a pending approval;
once a person approves it, the same call (same server, tool and arguments) runs exactly
once: on the agent's retry, or right away when the retry names the approval in
``_meta["devfactory/approval_id"]``.

One logical call gets one audit line, however often the transport delivers it: a repeat
of a request id on the same session, or of ``_meta["devfactory/call_id"]`` from the same
client, gets the first answer again.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import mcp_types as types
import orjson
from mcp.shared.exceptions import MCPError

from devfactory.executor import Executor, Idempotency, RetryPolicy
from devfactory.gate import Gate, ToolCall
from devfactory.mcp.access import Principal, permission_problem
from devfactory.mcp.upstream import Route, Upstream
from devfactory.obs import redact
from devfactory.obs.events import (
    Event,
    GateHalted,
    OperationFinished,
    OperationStarted,
)
from devfactory.obs.log import get_logger, operation
from devfactory.obs.metrics import CALL_DURATION, CALLS

__all__ = ["APPROVAL_META", "CALL_ID_META", "Pipeline"]

APPROVAL_META = "devfactory/approval_id"
CALL_ID_META = "devfactory/call_id"
_audit = get_logger("gateway", stream="audit")
_log = get_logger("gateway")

Publish = Callable[[Event], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one call, for the audit line and the metrics."""

    outcome: str  # ok, tool_error, refused, halted, denied, blocked, unavailable, failed
    decision: str | None = None
    approval_id: str | None = None
    reason: str | None = None


def _text_result(
    text: str, details: Mapping[str, Any], *, error: bool = True
) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=dict(details),
        is_error=error,
    )


async def _call_hosted(server: Any, tool: str, args: dict[str, Any]) -> types.CallToolResult:
    """Call a tool of an in-process ``MCPServer`` directly, with the SDK's own conversion of
    results and of failures (a ``ToolError`` is text the model reads; anything else is
    "Error executing tool …"), as its ``tools/call`` handler does."""
    try:
        result = await server.call_tool(tool, args)
    except MCPError:
        raise
    except Exception as exc:  # the SDK's rule: the message of a ToolError, a generic text else
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=str(exc))], is_error=True
        )
    if not isinstance(result, types.CallToolResult):
        return _text_result(
            "the tool asked for input, which the gateway does not relay",
            {"error": "input_required"},
        )
    return result


class _Seen:
    """Answers already given, by logical-call key (bounded, expiring)."""

    def __init__(self, size: int = 10_000, ttl: float = 600.0) -> None:
        self._items: OrderedDict[tuple[str, ...], tuple[float, types.CallToolResult]] = (
            OrderedDict()
        )
        self.size, self.ttl = size, ttl

    def get(self, key: tuple[str, ...] | None) -> types.CallToolResult | None:
        if key is None:
            return None
        found = self._items.get(key)
        if found is None or time.monotonic() - found[0] > self.ttl:
            return None
        return found[1]

    def put(self, key: tuple[str, ...] | None, result: types.CallToolResult) -> None:
        if key is None:
            return
        self._items[key] = (time.monotonic(), result)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class Pipeline:
    """Runs tool calls for the gateway's transports."""

    def __init__(
        self,
        upstreams: list[Upstream],
        gate: Gate,
        *,
        secret_patterns: list[str] | None = None,
        publish: Publish | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.upstreams = {u.name: u for u in upstreams}
        self.gate = gate
        self.publish = publish
        self._patterns = [re.compile(p) for p in secret_patterns or []]
        self._policy = policy or RetryPolicy(attempts=3, base=0.05, cap=1.0, total=5.0)
        self._seen = _Seen()

    # -- the tool list ------------------------------------------------------------------------

    def routes(self) -> dict[str, Route]:
        """Every tool offered now, by exposed name (servers that are down offer none)."""
        found: dict[str, Route] = {}
        for upstream in self.upstreams.values():
            found.update(upstream.routes)
        return found

    def tools_for(self, principal: Principal) -> list[types.Tool]:
        """The tools ``principal`` may call (viewers see read-only tools only)."""
        tools = []
        for route in self.routes().values():
            if principal.servers is not None and route.server not in principal.servers:
                continue
            if principal.role == "viewer" and not route.read_only:
                continue
            tools.append(route.definition)
        return tools

    # -- one call -----------------------------------------------------------------------------

    async def call(
        self,
        principal: Principal,
        name: str,
        arguments: Mapping[str, Any] | None,
        meta: Mapping[str, Any] | None = None,
        *,
        request_key: tuple[str, ...] | None = None,
    ) -> types.CallToolResult:
        """Run one call for ``principal``; the result the client gets."""
        meta = dict(meta or {})
        key = request_key
        if isinstance(meta.get(CALL_ID_META), str):
            key = ("call-id", principal.name, meta[CALL_ID_META])
        if key is not None and (again := self._seen.get(key)) is not None:
            return again
        args = dict(arguments or {})
        route = self.routes().get(name)
        server = route.server if route is not None else (name.split("__", 1)[0] or "?")
        started = time.perf_counter()
        # One operation per call (its id on every line the call causes); the audit line
        # below is its summary, so the operation writes no started/finished lines itself.
        with operation("mcp.call", component="gateway", quiet=True) as op:
            if self.publish is not None:
                await self._emit(OperationStarted(
                    operation_id=op.id, name=f"mcp.call {name}", component="gateway"
                ))  # fmt: skip
            try:
                result, outcome = await self._run(principal, name, route, args, meta)
            except (
                Exception
            ) as exc:  # a bug or an unexpected downstream failure: report, keep serving
                _log.exception("gateway.call_failed", tool=name)
                result = _text_result(
                    f"the gateway could not run {name}: {type(exc).__name__}",
                    {"error": type(exc).__name__},
                )
                outcome = Outcome("failed", reason=type(exc).__name__)
            duration = time.perf_counter() - started
            CALLS.labels("mcp", outcome.outcome).inc()
            CALL_DURATION.labels("mcp").observe(duration)
            _audit.info(
                "mcp.call",
                client=principal.name,
                role=principal.role,
                server=server,
                tool=name,
                argument_keys=sorted(args),
                outcome=outcome.outcome,
                decision=outcome.decision,
                approval_id=outcome.approval_id,
                reason=outcome.reason,
                duration_s=round(duration, 6),
                is_error=bool(result.is_error),
            )
            if self.publish is not None:
                await self._emit(OperationFinished(
                    operation_id=op.id, name=f"mcp.call {name}", outcome=outcome.outcome,
                    duration_s=max(duration, 0.0),
                ))  # fmt: skip
        self._seen.put(key, result)
        return result

    async def _run(
        self,
        principal: Principal,
        name: str,
        route: Route | None,
        args: dict[str, Any],
        meta: dict[str, Any],
    ) -> tuple[types.CallToolResult, Outcome]:
        if route is None:
            known = ", ".join(sorted(self.routes())[:20])
            return _text_result(
                f"unknown tool {name!r}; tools: {known}", {"error": "unknown_tool"}
            ), Outcome("refused", reason="unknown tool")
        upstream = self.upstreams[route.server]
        problem = permission_problem(principal, route.server, route.read_only, args)
        if problem is not None:
            return _text_result(f"not permitted: {problem}", {"error": "forbidden"}), Outcome(
                "refused", reason=problem
            )
        if self._holds_secret(args):
            why = "the arguments hold what looks like a secret (a token, key or password)"
            return _text_result(f"blocked: {why}; pass secrets through configuration, not tool calls", {"error": "secret_in_arguments"}), Outcome("blocked", reason="secret in arguments")  # fmt: skip
        if upstream.client is None:
            why = upstream.error or "not connected yet"
            return _text_result(
                f"server {route.server!r} is unavailable: {why}", {"error": "unavailable"}
            ), Outcome("unavailable", reason=why)
        context: dict[str, Any] = {}
        try:
            context = await upstream.assess(route.tool, args)
        except Exception as exc:  # the assessment is advice: a failure is a validation doubt
            context = {"validation_errors": [f"could not assess the call: {type(exc).__name__}"]}
        call = ToolCall(
            server=route.server,
            tool=route.exposed,
            arguments=args,
            annotations=route.annotations,
            meta={k: v for k, v in meta.items() if k in ("rationale", "confidence")},
            context=context,
            input_schema=route.definition.input_schema,
        )
        named = meta.get(APPROVAL_META)
        approval_id = named if isinstance(named, str) and named else None
        decision_name: str | None = "approved"
        if approval_id is None:
            decision = self.gate.assess(call)
            if decision.decision == "halt" and self.gate.approvals is not None:
                # Only a call that would halt looks at the store: approved → run once;
                # pending → the same record again (no pile-up of duplicates).
                fingerprint = call.fingerprint()
                approved = self.gate.approvals.find(fingerprint, "approved")
                if approved is not None:
                    approval_id = approved.id
                else:
                    pending = self.gate.approvals.find(fingerprint, "pending")
                    if pending is not None:
                        earlier = [str(r) for r in pending.decision.get("reasons", [])]
                        return await self._halted(
                            call, pending.id, earlier, pending.score, again=True
                        )
        if approval_id is None:
            decision = self.gate.check(call, decision)
            decision_name = decision.decision
            if decision.decision == "deny":
                why = "; ".join(decision.reasons)
                return _text_result(
                    f"denied by policy: {why}",
                    {"error": "denied", "reasons": decision.reasons, "score": decision.score},
                ), Outcome("denied", "deny", reason=why)
            if decision.decision == "halt":
                return await self._halted(
                    call, decision.approval_id, decision.reasons, decision.score
                )
        elif self.gate.approvals is None or not self.gate.authorize(call, approval_id):
            return _text_result(
                f"approval {approval_id} does not cover this call (used, expired, or for other arguments)",
                {"error": "approval_invalid", "approval_id": approval_id},
            ), Outcome("refused", "approved", approval_id, "approval did not match")
        result = await self._downstream(upstream, route, args)
        if self._holds_secret(result.model_dump(mode="json", by_alias=True, exclude_none=True)):
            return _text_result(
                "the result held what looks like a secret and was withheld",
                {"error": "secret_in_result"},
            ), Outcome("blocked", decision_name, approval_id, "secret in result")
        outcome = "tool_error" if result.is_error else "ok"
        return result, Outcome(outcome, decision_name, approval_id)

    async def _halted(
        self,
        call: ToolCall,
        approval_id: str | None,
        reasons: list[str],
        score: float,
        *,
        again: bool = False,
    ) -> tuple[types.CallToolResult, Outcome]:
        if approval_id is None:
            text = f"halted: {'; '.join(reasons)}. No approval store is configured, so it cannot be approved."
            return _text_result(text, {"error": "halted", "reasons": reasons}), Outcome(
                "halted", "halt", reason="; ".join(reasons)
            )
        if self.publish is not None and not again:
            await self._emit(GateHalted(
                approval_id=approval_id, tool=call.tool, server=call.server, score=score,
                reasons=tuple(reasons),
            ))  # fmt: skip
        text = (
            f"halted for review: {'; '.join(reasons)}. Approval {approval_id} is pending: a person "
            f"approves it with `devfactory approvals approve {approval_id}` (or in the dashboard). "
            "Then call this tool again with the same arguments; it runs once."
        )
        details = {
            "error": "halted",
            "approval_id": approval_id,
            "reasons": reasons,
            "score": score,
            "approve": f"devfactory approvals approve {approval_id}",
        }
        return _text_result(text, details), Outcome(
            "halted", "halt", approval_id, "; ".join(reasons)
        )

    async def _downstream(
        self, upstream: Upstream, route: Route, args: dict[str, Any]
    ) -> types.CallToolResult:
        client = upstream.client
        if client is None:
            return _text_result(f"server {route.server!r} is unavailable", {"error": "unavailable"})
        executor = Executor(
            RetryPolicy(
                attempts=self._policy.attempts if route.idempotent else 1,
                base=self._policy.base,
                cap=self._policy.cap,
                total=self._policy.total,
                timeout=route.timeout,
            )
        )
        hosted = upstream.hosted

        async def attempt() -> types.CallToolResult:
            if hosted is not None:  # in this process: call the server, no JSON-RPC hop
                return await _call_hosted(hosted.server, route.tool, args)
            return await client.call_tool(route.tool, args, read_timeout_seconds=route.timeout)

        try:
            return await executor.run(
                attempt,
                idempotency=Idempotency.SAFE if route.idempotent else Idempotency.UNSAFE,
                label=route.exposed,
                kind="mcp",
            )
        except Exception as exc:  # the server failed or vanished: the model reads why
            text = redact.redact_text(str(exc)) or type(exc).__name__
            return _text_result(f"{route.exposed} failed: {text}", {"error": "downstream_failed"})

    def _holds_secret(self, value: Any) -> bool:
        text = orjson.dumps(value, default=str).decode()
        if redact.needs_redaction(text) and redact.redact_text(text) != text:
            return True
        return any(rx.search(text) for rx in self._patterns)

    async def _emit(self, event: Event) -> None:
        if self.publish is None:
            return
        try:
            await self.publish(event)
        except Exception:  # events are best effort: a full or broken bus never fails a call
            _log.warning("gateway.event_dropped", type=event.type)
