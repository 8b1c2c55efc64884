"""asyncio.start_server: reader.read(n), writer.write, await writer.drain()."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

from aionetbench.faults import expected_faults_ignored
from servers import READ_SIZE, ServerOptions

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def echo_chunks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo until EOF (everything received has then been echoed) or the peer goes away."""
    while (data := await reader.read(READ_SIZE)) and not writer.is_closing():
        writer.write(data)
        await writer.drain()  # wait while the peer is slow: bounded memory


@contextlib.asynccontextmanager
async def serve_streams(
    echo: Handler, listener: socket.socket, options: ServerOptions, **start_server: object
) -> AsyncIterator[None]:
    """Serve `echo` on every connection until the context exits, then close them all: the
    bookkeeping every streams-based server shares."""
    connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[writer] = asyncio.current_task()  # type: ignore[assignment]
        try:
            with expected_faults_ignored():
                await echo(reader, writer)
        finally:
            del connections[writer]
            writer.close()

    server = await asyncio.start_server(handle, sock=listener, ssl=options.tls, **start_server)  # type: ignore[arg-type]
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


@contextlib.asynccontextmanager
async def serve(listener: socket.socket, options: ServerOptions) -> AsyncIterator[None]:
    async with serve_streams(echo_chunks, listener, options):
        yield
