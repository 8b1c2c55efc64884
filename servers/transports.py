"""What the Protocol and BufferedProtocol servers share: flow control and connection bookkeeping."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import cast

from servers import ServerOptions


class EchoBase(asyncio.BaseProtocol):
    """Flow control for an echo: while the peer is not reading our writes, stop reading its.

    Subclasses only move bytes from their receive callback to `self.transport.write`.
    """

    transport: asyncio.Transport

    def __init__(self, connections: set[asyncio.BaseTransport]) -> None:
        self.connections = connections

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.connections.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self.transport)

    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    def eof_received(self) -> bool:
        """Half-close: returning False closes the transport once it has written everything."""
        return False


@contextlib.asynccontextmanager
async def serve_protocol(
    protocol: Callable[[set[asyncio.BaseTransport]], EchoBase],
    listener: socket.socket,
    options: ServerOptions,
) -> AsyncIterator[None]:
    """Serve `protocol` on `listener` until the context exits, then close every connection."""
    loop = asyncio.get_running_loop()
    connections: set[asyncio.BaseTransport] = set()
    server = await loop.create_server(lambda: protocol(connections), sock=listener, ssl=options.tls)
    try:
        yield
    finally:
        server.close()
        for transport in list(connections):
            transport.abort()  # shutting down: unsent echoes are dropped, not flushed
