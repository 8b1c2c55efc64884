"""Equivalent echo servers, one module per asyncio networking API.

Every module exposes `serve(listener, options)`, an async context manager that serves echo
on an already listening socket until the context exits. Binding, loop choice, TLS set-up,
readiness and signals live once in `servers.cli`, so the modules differ only in the API
under test.
"""

import socket
import ssl
from dataclasses import dataclass

# Every TCP variant reads up to this many bytes at a time: asyncio's own transports read
# 256 KiB per recv, so the stream, buffered and raw-socket variants are set to match.
READ_SIZE = 256 * 1024
# The largest WebSocket message every WebSocket server accepts; a larger one is refused
# with close code 1009.
WS_MAX_MESSAGE = 16 * 1024 * 1024
# Seconds a WebSocket server waits for the peer's answer to its closing handshake, so that
# shutdown finishes within 2 s even if peers ignore it.
WS_CLOSE_TIMEOUT = 1.0

# Module of each API, in the order the suite reports them.
APIS: dict[str, str] = {
    "sockets": "servers.sockets",
    "streams": "servers.streams",
    "readline": "servers.readline",
    "protocol": "servers.protocol",
    "buffered": "servers.buffered",
    "websockets": "servers.ws",
    "aiohttp": "servers.aiohttp_ws",
    "picows": "servers.picows_ws",
    "native": "servers.native",
}
# The APIs that speak WebSocket (the load generator's `ws` framing), and readline's lines.
WEBSOCKET_APIS = ("websockets", "aiohttp", "picows")
# APIs that run on no asyncio loop: the label their cells carry instead of a loop's name.
LOOPLESS: dict[str, str] = {"native": "epoll"}


def protocol_of(api: str) -> str:
    """The load generator's framing for an API: `ws`, `line`, or raw `tcp`."""
    if api in WEBSOCKET_APIS:
        return "ws"
    return "line" if api == "readline" else "tcp"


@dataclass(frozen=True)
class ServerOptions:
    """What `serve()` needs besides the listening socket."""

    tls: ssl.SSLContext | None = None
    compression: str | None = None  # websockets only: None or "deflate"


def set_nodelay(sock: socket.socket) -> None:
    """Disable Nagle on TCP sockets, as asyncio and uvloop transports do by default."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
