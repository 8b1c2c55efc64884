"""asyncio.start_server with line framing: reader.readline(), writer.write, await writer.drain()."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from servers import ServerOptions
from servers.streams import serve_streams

# The longest line a connection may send (StreamReader's limit); a longer one ends the
# connection. As large as the WebSocket servers' biggest message.
MAX_LINE = 16 * 1024 * 1024


async def echo_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo line by line until EOF; readline() returns the last, unterminated line at EOF,
    so a half-close still gets every byte back."""
    with contextlib.suppress(ValueError):  # a line over MAX_LINE: end this connection
        # Lines already buffered when shutdown aborts the transport are not echoed: uvloop
        # refuses writes to a closed transport.
        while (line := await reader.readline()) and not writer.is_closing():
            writer.write(line)
            await writer.drain()


@contextlib.asynccontextmanager
async def serve(listener: socket.socket, options: ServerOptions) -> AsyncIterator[None]:
    async with serve_streams(echo_lines, listener, options, limit=MAX_LINE):
        yield
