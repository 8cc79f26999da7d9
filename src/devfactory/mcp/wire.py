"""One port for two wires: raw newline-delimited JSON-RPC (the socat tunnel) and HTTP.

The gateway's port 8811 serves ``socat STDIO TCP:127.0.0.1:8811`` — a desktop client's
stdio server made of a TCP connection, one MCP session per connection, one JSON-RPC
message per line, exactly the stdio framing — and Streamable HTTP / SSE on the same port.
uvicorn accepts every connection with :func:`protocol_for`'s class, which looks at the
first bytes: ``{`` or ``[`` (after optional whitespace) is JSON-RPC and becomes a
:class:`LineSession`; anything else is handed, with the bytes already read, to uvicorn's
own HTTP protocol. Nothing is proxied, so HTTP pays no extra hop.

A raw TCP session cannot send a token. It is therefore served only to loopback peers (a
peer elsewhere is refused with a JSON-RPC error unless the gateway runs with
``--allow-unauthenticated``) and acts as the configuration's ``tcp`` principal.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import anyio
import mcp_types as types
import orjson
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import ServerMessageMetadata, SessionMessage

from devfactory.mcp.gateway import Gateway
from devfactory.obs.log import get_logger

__all__ = ["LineSession", "protocol_for"]

_audit = get_logger("gateway", stream="audit")
_log = get_logger("gateway")
_WHITESPACE = b" \t\r\n"
_QUEUE_HIGH = 64  # pause reading a client that sends faster than the gateway answers


def _is_loopback(peer: Any) -> bool:
    try:
        host = peer[0] if isinstance(peer, tuple) else str(peer)
        return ipaddress.ip_address(host).is_loopback
    except (ValueError, IndexError, TypeError):
        return False


def _error_line(code: int, message: str, ident: Any = None) -> bytes:
    payload = {"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}}
    return orjson.dumps(payload) + b"\n"


class LineSession(asyncio.Protocol):
    """One MCP session over newline-delimited JSON-RPC on a TCP connection."""

    def __init__(self, gateway: Gateway, server_state: Any) -> None:
        self.gateway = gateway
        self.server_state = server_state
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.limit = gateway.config.limits.line_bytes
        self.queue: asyncio.Queue[SessionMessage | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.paused = False
        self.peer: Any = None

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peer = transport.get_extra_info("peername")
        self.server_state.connections.add(self)
        allowed = self.gateway.config.tcp.enabled and (
            _is_loopback(self.peer) or self.gateway.allow_unauthenticated
        )
        if not allowed:
            _audit.warning("gateway.refused", transport="tcp", peer=str(self.peer), reason="raw TCP is served to loopback peers only")  # fmt: skip
            transport.write(_error_line(-32001, "raw JSON-RPC over TCP is served to loopback clients only; use HTTP /mcp with a token"))  # fmt: skip
            transport.close()
            return
        _audit.info("gateway.session", transport="tcp", peer=str(self.peer), state="opened")
        self.task = asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\n")
            if end < 0:
                break
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 1]
            self._line(line)
        if len(self.buffer) > self.limit:
            self._fail(_error_line(-32600, f"message longer than {self.limit} bytes"))

    def eof_received(self) -> bool | None:
        if self.buffer.strip():
            self._line(bytes(self.buffer))
        self.buffer.clear()
        self.queue.put_nowait(None)
        return True  # keep the write side open until the answers are sent

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        self.queue.put_nowait(None)
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: end the session."""
        self.queue.put_nowait(None)
        if self.transport is not None:
            self.transport.close()

    # -- messages ----------------------------------------------------------------------------

    def _line(self, line: bytes) -> None:
        if not line.strip():
            return
        if len(line) > self.limit:
            self._fail(_error_line(-32600, f"message longer than {self.limit} bytes"))
            return
        try:
            message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
        except ValueError as exc:
            if self.transport is not None:
                first = str(exc).splitlines()[0] if str(exc) else "invalid JSON-RPC"
                self.transport.write(_error_line(-32700, f"parse error: {first}"))
            return
        metadata = ServerMessageMetadata(request_context=self.gateway.tcp_principal)
        self.queue.put_nowait(SessionMessage(message, metadata=metadata))
        if self.queue.qsize() > _QUEUE_HIGH and not self.paused and self.transport is not None:
            self.transport.pause_reading()
            self.paused = True

    def _fail(self, line: bytes) -> None:
        if self.transport is not None:
            self.transport.write(line)
            self.transport.close()
        self.buffer.clear()

    async def _serve(self) -> None:
        read_send: MemoryObjectSendStream[SessionMessage | Exception]
        read_recv: MemoryObjectReceiveStream[SessionMessage | Exception]
        write_send: MemoryObjectSendStream[SessionMessage]
        write_recv: MemoryObjectReceiveStream[SessionMessage]
        read_send, read_recv = anyio.create_memory_object_stream(16)
        write_send, write_recv = anyio.create_memory_object_stream(16)

        async def pump_in() -> None:
            async with read_send:
                while (item := await self.queue.get()) is not None:
                    if self.paused and self.queue.qsize() < _QUEUE_HIGH // 2 and self.transport:
                        self.transport.resume_reading()
                        self.paused = False
                    await read_send.send(item)

        async def pump_out() -> None:
            async with write_recv:
                async for outgoing in write_recv:
                    if self.transport is None or self.transport.is_closing():
                        continue
                    data = outgoing.message.model_dump_json(by_alias=True, exclude_unset=True)
                    self.transport.write(data.encode() + b"\n")

        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(pump_in)
                tasks.start_soon(pump_out)
                await self.gateway.server.run(read_recv, write_send, self.gateway.init_options())
                tasks.cancel_scope.cancel()
        except Exception:  # a broken session must not take the listener down
            _log.exception("gateway.session_failed", transport="tcp")
        finally:
            _audit.info("gateway.session", transport="tcp", peer=str(self.peer), state="closed")
            if self.transport is not None and not self.transport.is_closing():
                self.transport.close()


def protocol_for(gateway: Gateway, http_class: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """A protocol class for uvicorn's ``http=`` that sniffs each connection's first bytes."""

    class Sniffer(asyncio.Protocol):
        """Stays the transport's protocol and forwards every callback to the one it chose
        (plain delegation: nothing depends on ``transport.set_protocol``)."""

        def __init__(
            self,
            config: Any,
            server_state: Any,
            app_state: dict[str, Any],
            _loop: asyncio.AbstractEventLoop | None = None,
        ) -> None:
            self.args = (config, server_state, app_state, _loop)
            self.transport: asyncio.Transport | None = None
            self.first = bytearray()
            self.inner: asyncio.Protocol | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            if self.inner is not None:
                self.inner.data_received(data)
                return
            self.first += data
            start = self.first.lstrip(_WHITESPACE)
            if not start:
                return
            assert self.transport is not None
            config, server_state, app_state, loop = self.args
            inner: asyncio.Protocol
            if bytes(start[:1]) in (b"{", b"["):
                inner = LineSession(gateway, server_state)
            else:
                inner = http_class(  # type: ignore[call-arg]
                    config=config, server_state=server_state, app_state=app_state, _loop=loop
                )
            self.inner = inner
            inner.connection_made(self.transport)
            first, self.first = bytes(self.first), bytearray()
            inner.data_received(first)

        def eof_received(self) -> bool | None:
            return self.inner.eof_received() if self.inner is not None else None

        def connection_lost(self, exc: Exception | None) -> None:
            if self.inner is not None:
                self.inner.connection_lost(exc)

        def pause_writing(self) -> None:
            if self.inner is not None:
                self.inner.pause_writing()

        def resume_writing(self) -> None:
            if self.inner is not None:
                self.inner.resume_writing()

    return Sniffer


def http_protocol_class() -> type[asyncio.Protocol]:
    """uvicorn's fastest available HTTP/1.1 protocol (httptools, else h11)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools ships with uvicorn[standard]
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol


def uvicorn_server(gateway: Gateway, app: Any) -> Any:
    """A uvicorn server for ``app`` whose connections are sniffed (see the module doc);
    run it with ``server.run(sockets=[sock])`` or ``await server.serve(sockets=[sock])``."""
    import uvicorn

    config = uvicorn.Config(
        app,
        http=protocol_for(gateway, http_protocol_class()),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        # The standard loop: under uvloop a sniffed HTTP connection stalls after the hand-off
        # (seen with uvicorn 0.54 + uvloop), so the gateway keeps asyncio's.
        loop="asyncio",
    )
    return uvicorn.Server(config)
