"""A server variant that is not in the registry: tests/test_registry.py adds it with one line."""

import contextlib
import socket
from collections.abc import AsyncIterator

from servers import ServerOptions
from servers.protocol import EchoProtocol
from servers.transports import serve_protocol


@contextlib.asynccontextmanager
async def serve(listener: socket.socket, options: ServerOptions) -> AsyncIterator[None]:
    async with serve_protocol(EchoProtocol, listener, options):
        yield
