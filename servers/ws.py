"""websockets.asyncio.server.serve: echoes each message with its type; no compression or pings."""

import contextlib
import socket
from collections.abc import AsyncIterator

from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as websockets_serve
from websockets.exceptions import ConnectionClosed, WebSocketException

from aionetbench.faults import expect_faults
from servers import WS_CLOSE_TIMEOUT, WS_MAX_MESSAGE, ServerOptions

expect_faults(WebSocketException)


async def echo(websocket: ServerConnection) -> None:
    """Echo every message as it came (text stays text, binary stays binary)."""
    # Without this, every peer that breaks the protocol or vanishes logs a traceback;
    # websockets has already closed such connections with the right code.
    with contextlib.suppress(ConnectionClosed):
        async for message in websocket:
            await websocket.send(message)


@contextlib.asynccontextmanager
async def serve(listener: socket.socket, options: ServerOptions) -> AsyncIterator[None]:
    async with websockets_serve(
        echo,
        sock=listener,
        ssl=options.tls,
        compression=options.compression,  # websockets enables deflate unless told not to
        ping_interval=None,  # keepalive pings would add traffic the client did not ask for
        max_size=WS_MAX_MESSAGE,
        close_timeout=WS_CLOSE_TIMEOUT,
    ):
        yield
