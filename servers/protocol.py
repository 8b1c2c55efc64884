"""loop.create_server with an asyncio.Protocol: data_received -> transport.write."""

import contextlib
import socket
from collections.abc import AsyncIterator

from servers import ServerOptions
from servers.transports import EchoBase, serve_protocol


class EchoProtocol(EchoBase):
    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


@contextlib.asynccontextmanager
async def serve(listener: socket.socket, options: ServerOptions) -> AsyncIterator[None]:
    async with serve_protocol(EchoProtocol, listener, options):
        yield
