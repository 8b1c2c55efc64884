"""asyncio.start_server: reader.read(n), writer.write, await writer.drain()."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from aionetbench.faults import EXPECTED_FAULTS
from servers import READ_SIZE, ServerOptions


@contextlib.asynccontextmanager
async def serve(listener: socket.socket, options: ServerOptions) -> AsyncIterator[None]:
    connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Echo until EOF (then close, having echoed everything) or until the peer goes away."""
        connections[writer] = asyncio.current_task()  # type: ignore[assignment]
        try:
            with contextlib.suppress(*EXPECTED_FAULTS):
                while data := await reader.read(READ_SIZE):
                    writer.write(data)
                    await writer.drain()  # wait while the peer is slow: bounded memory
        finally:
            del connections[writer]
            writer.close()

    server = await asyncio.start_server(echo, sock=listener, ssl=options.tls)
    try:
        yield
    finally:
        server.close()
        # Abort, then let the handlers finish: cancelling them instead makes Python 3.11's
        # start_server log a spurious CancelledError traceback for each.
        handlers = list(connections.values())
        for writer in list(connections):
            writer.transport.abort()
        if handlers:
            await asyncio.wait(handlers)
