"""The gateway: one MCP server that fronts every configured server, behind one door.

:class:`Gateway` owns the downstream connections (:mod:`devfactory.mcp.upstream`), the
call pipeline (:mod:`devfactory.mcp.pipeline`) and one low-level SDK ``Server`` whose
``tools/list`` and ``tools/call`` go through them. The transports hand each message the
caller's :class:`~devfactory.mcp.access.Principal`: HTTP through the request the auth
guard stamped (:mod:`devfactory.mcp.http`), a raw TCP session through the message
metadata (:mod:`devfactory.mcp.wire`).
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.models import InitializationOptions
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from devfactory import __version__
from devfactory.config import Settings
from devfactory.db import Database
from devfactory.gate import Approvals, Gate, Policy, load_policy
from devfactory.mcp.access import Keyring, Principal
from devfactory.mcp.config import GatewayConfig, ServerEntry
from devfactory.mcp.hosted import HostedServer
from devfactory.mcp.pipeline import APPROVAL_META, Pipeline, Publish
from devfactory.mcp.upstream import Upstream, build_upstreams
from devfactory.obs.log import get_logger

__all__ = ["PRINCIPAL_KEY", "Gateway"]

PRINCIPAL_KEY = "devfactory.principal"
_log = get_logger("gateway")
_NOBODY = Principal("anonymous", "viewer", frozenset())
# A unique key per live session (``id()`` of a dead session may come back for a new one).
_SESSION_KEYS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def principal_of(request: Any) -> Principal:
    """The caller a transport attached to a message (nobody, with no rights, if none)."""
    if isinstance(request, Principal):
        return request
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict):
        found = scope.get(PRINCIPAL_KEY)
        if isinstance(found, Principal):
            return found
    return _NOBODY


def _request_key(
    ctx: ServerRequestContext[Any, Any], principal: Principal
) -> tuple[str, ...] | None:
    """Identifies one JSON-RPC request within its session (for duplicate deliveries)."""
    if ctx.request_id is None:
        return None
    request = ctx.request
    session = ""
    headers = getattr(request, "headers", None)
    if headers is not None:
        session = headers.get("mcp-session-id", "") or str(
            getattr(request, "query_params", {}).get("session_id", "")
        )
    if not session:
        session = _SESSION_KEYS.get(ctx.session) or _SESSION_KEYS.setdefault(
            ctx.session, uuid.uuid4().hex
        )
    return ("request", principal.name, session, str(ctx.request_id))


class Gateway:
    """The configured servers behind the gate, as one MCP server."""

    def __init__(
        self,
        config: GatewayConfig,
        settings: Settings,
        *,
        store: Database | None = None,
        publish: Publish | None = None,
        allow_unauthenticated: bool = False,
        extra_servers: Mapping[str, HostedServer] | None = None,
    ) -> None:
        """``extra_servers`` adds in-process servers by name, as a Python API (tests, embedding)."""
        self.config = config
        self.settings = settings
        self.allow_unauthenticated = allow_unauthenticated
        policy_path = config.path(config.policy) if config.policy else settings.policy
        policy = load_policy(policy_path) if policy_path is not None else Policy()
        self.store = store
        self.gate = Gate(policy, approvals=Approvals(store) if store is not None else None)
        self.keyring = Keyring.from_config(config)
        if len(self.keyring) == 0 and not allow_unauthenticated:
            self.keyring.generate()
        self.upstreams: list[Upstream] = build_upstreams(config, settings)
        for name, hosted in (extra_servers or {}).items():
            entry = ServerEntry(plugin=name)
            self.upstreams.append(Upstream(name, entry, hosted.server, hosted))
        self.pipeline = Pipeline(
            self.upstreams, self.gate, secret_patterns=config.secret_patterns, publish=publish
        )
        self.tcp_principal = Principal.of("tcp", config.tcp)
        self.server: Server[Any] = Server(
            "devfactory-gateway",
            version=__version__,
            title="devfactory gateway",
            instructions=(
                "Tools of several servers, named <server>__<tool>. Every call passes a "
                "confidence gate: a halted call answers with an approval id; once a person "
                "approves it, call the tool again with the same arguments."
            ),
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            get_tool_input_schema=self._input_schema,
        )

    def init_options(self) -> InitializationOptions:
        return self.server.create_initialization_options()

    @asynccontextmanager
    async def running(self, *, connect_timeout: float = 20.0) -> AsyncIterator[Gateway]:
        """Connect every downstream server (waiting up to ``connect_timeout`` for the first
        attempt of each), serve, and disconnect on exit."""
        async with anyio.create_task_group() as tasks:
            for upstream in self.upstreams:
                tasks.start_soon(upstream.supervise)
            with anyio.move_on_after(connect_timeout):
                for upstream in self.upstreams:
                    await upstream.ready.wait()
            try:
                yield self
            finally:
                for upstream in self.upstreams:
                    await upstream.stop()

    def health(self) -> dict[str, Any]:
        """Each server's state, for ``/health``."""
        servers = {
            u.name: {"up": u.client is not None, "tools": len(u.routes), "error": u.error}
            for u in self.upstreams
        }
        return {"status": "ok", "servers": servers}

    async def _ask_in_client(
        self,
        ctx: ServerRequestContext[Any, Any],
        principal: Principal,
        params: types.CallToolRequestParams,
        approval_id: str,
    ) -> types.CallToolResult | None:
        """Ask the person at the client (MCP elicitation) to review a halted call.

        Only when the configuration allows it and the client declared form elicitation on a
        connection with a back channel; otherwise None and the halt stands. An accepted
        answer approves the record (reviewer ``<client> via elicitation``) and the call runs
        once; a declined one denies it.
        """
        approvals = self.gate.approvals
        if not self.config.elicit_approvals or approvals is None:
            return None
        wanted = types.ClientCapabilities(elicitation=types.ElicitationCapability())
        try:
            if not ctx.session.check_client_capability(wanted):
                return None
            record = approvals.get(approval_id)
            reasons = "; ".join(str(r) for r in record.decision.get("reasons", []))
            answer = await ctx.session.elicit_form(
                f"The gateway halted {params.name} for review: {reasons}. Approve it to run once?",
                {
                    "type": "object",
                    "properties": {
                        "approve": {"type": "boolean", "title": "Approve this call"},
                        "note": {"type": "string", "title": "Note"},
                    },
                    "required": ["approve"],
                },
                related_request_id=ctx.request_id,
            )
        except (MCPError, AttributeError, TypeError):  # no back channel, or an old session
            return None
        content = answer.content or {}
        reviewer = f"{principal.name} via elicitation"
        note = str(content.get("note") or "") or None
        if answer.action == "accept" and content.get("approve") is True:
            approvals.approve(approval_id, reviewer, note)
            meta = {**(dict(params.meta) if params.meta else {}), APPROVAL_META: approval_id}
            return await self.pipeline.call(principal, params.name, params.arguments, meta)
        if answer.action == "cancel":
            return None  # dismissed: the halt stands, the record stays pending
        approvals.deny(approval_id, reviewer, note)
        return types.CallToolResult(
            content=[
                types.TextContent(
                    type="text",
                    text=f"denied by the person at the client{': ' + note if note else ''}",
                )
            ],
            structured_content={"error": "denied", "approval_id": approval_id},
            is_error=True,
        )

    def _input_schema(self, name: str) -> dict[str, Any] | None:
        """A tool's input schema without a listing (the SDK checks ``Mcp-Param`` headers
        against it on each modern HTTP call; permissions are checked in the pipeline)."""
        route = self.pipeline.routes().get(name)
        return dict(route.definition.input_schema) if route is not None else None

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        principal = principal_of(ctx.request)
        return types.ListToolsResult(tools=self.pipeline.tools_for(principal))

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        principal = principal_of(ctx.request)
        meta = dict(params.meta) if params.meta else {}
        result = await self.pipeline.call(
            principal,
            params.name,
            params.arguments,
            meta,
            request_key=_request_key(ctx, principal),
        )
        details = result.structured_content or {}
        if details.get("error") == "halted" and details.get("approval_id"):
            asked = await self._ask_in_client(ctx, principal, params, str(details["approval_id"]))
            if asked is not None:
                return asked
        if details.get("error") == "unknown_tool":
            # The spec's answer to a tool that does not exist is a protocol error (-32602);
            # the refusal is in the audit log all the same.
            text = (
                result.content[0].text if isinstance(result.content[0], types.TextContent) else ""
            )
            raise MCPError(INVALID_PARAMS, text)
        return result
