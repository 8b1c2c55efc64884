"""Equivalent echo servers, one module per asyncio networking API, and their registry.

Every module exposes `serve(listener, options)`, an async context manager that serves echo
on an already listening socket until the context exits. Binding, loop choice, TLS set-up,
readiness and signals live once in `servers.cli`, so the modules differ only in the API
under test. What each variant can do is declared once, in `SERVERS` below: the servers'
command line, the orchestrator, the report and the tests all derive from it, so adding an
API is one module and one line here.
"""

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

# Every TCP variant reads up to this many bytes at a time: asyncio's own transports read
# 256 KiB per recv, so the stream, buffered and raw-socket variants are set to match.
READ_SIZE = 256 * 1024
# The largest WebSocket message every WebSocket server accepts; a larger one is refused
# with close code 1009.
WS_MAX_MESSAGE = 16 * 1024 * 1024
# Seconds a WebSocket server waits for the peer's answer to its closing handshake, so that
# shutdown finishes within 2 s even if peers ignore it.
WS_CLOSE_TIMEOUT = 1.0


@dataclass(frozen=True)
class Server:
    """One server variant: where it lives and what it can do."""

    name: str
    module: str
    framing: str = (
        "tcp"  # aionetbench.wire.FRAMINGS: raw echo, one line per message, or WebSocket messages
    )
    no_tls: str = ""  # why it cannot serve TLS ("" when it can)
    no_unix: str = ""  # why it cannot serve a Unix socket ("" when it can)
    # Whether it serves through the loop's transports (create_server and what builds on
    # it), so that a loop whose transports lack something (aionetbench.loops) lacks it too.
    on_transports: bool = True
    # A reference runs on no asyncio loop: its cells carry this label instead of a loop's
    # name, it is drawn as a line and never ranked. "" for the candidates.
    own_loop: str = ""
    binary: Path | None = None  # a native program it needs built (`make native`)

    @property
    def reference(self) -> bool:
        return bool(self.own_loop)

    @property
    def runs_python(self) -> bool:
        """Whether the serving process is a Python interpreter (the reference replaces it)."""
        return not self.reference


NATIVE_BINARY = Path(__file__).resolve().parent / "native" / "echo"

# In the order the suite reports them.
SERVERS: dict[str, Server] = {
    server.name: server
    for server in (
        Server(
            "sockets",
            "servers.sockets",
            no_tls="loop.sock_* methods work on plain sockets only; asyncio offers no TLS for them",
            on_transports=False,
        ),
        Server("streams", "servers.streams"),
        Server("readline", "servers.readline", framing="line"),
        Server("protocol", "servers.protocol"),
        Server("buffered", "servers.buffered"),
        Server("websockets", "servers.ws", framing="ws"),
        Server("aiohttp", "servers.aiohttp_ws", framing="ws"),
        Server(
            "picows",
            "servers.picows_ws",
            framing="ws",
            no_unix="picows sets TCP options on every connection, which a Unix socket refuses",
        ),
        Server(
            "native",
            "servers.native",
            no_tls="the native reference server has no TLS",
            on_transports=False,
            own_loop="epoll",
            binary=NATIVE_BINARY,
        ),
    )
}
WEBSOCKET_APIS = tuple(name for name, server in SERVERS.items() if server.framing == "ws")


def framing_of(api: str) -> str:
    """The load generator's framing for an API: `ws`, `line`, or raw `tcp`."""
    return SERVERS[api].framing


@dataclass(frozen=True)
class ServerOptions:
    """What `serve()` needs besides the listening socket."""

    tls: ssl.SSLContext | None = None
    compression: str | None = None  # websockets only: None or "deflate"


def set_nodelay(sock: socket.socket) -> None:
    """Disable Nagle on TCP sockets, as asyncio and uvloop transports do by default."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
