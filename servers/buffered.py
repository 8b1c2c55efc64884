"""asyncio.BufferedProtocol: the transport reads into one preallocated buffer per connection."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from servers import READ_SIZE, ServerOptions
from servers.transports import EchoBase, serve_protocol


class EchoBufferedProtocol(EchoBase, asyncio.BufferedProtocol):
    def __init__(self, connections: set[asyncio.BaseTransport]) -> None:
        super().__init__(connections)
        # A memoryview, not the bytearray itself: asyncio's TLS layer fills the buffer
        # piecewise through slices, and a bytearray slice is a copy that would lose data.
        self.buffer = memoryview(bytearray(READ_SIZE))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        # Copy out: since Python 3.12 a transport may queue the very object it is given,
        # and this buffer is overwritten by the next read.
        self.transport.write(bytes(self.buffer[:nbytes]))


@contextlib.asynccontextmanager
async def serve(listener: socket.socket, options: ServerOptions) -> AsyncIterator[None]:
    async with serve_protocol(EchoBufferedProtocol, listener, options):
        yield
