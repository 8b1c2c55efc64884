"""aiohttp.web WebSocketResponse: echoes each message with its type; no compression or pings."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from aiohttp import WSMsgType, web
from aiohttp.http_exceptions import HttpProcessingError

from aionetbench.faults import expect_faults
from servers import WS_CLOSE_TIMEOUT, WS_MAX_MESSAGE, ServerOptions

expect_faults(HttpProcessingError)  # a request that is not HTTP

OPEN = web.AppKey("open", set[web.WebSocketResponse])  # the WebSockets to close at shutdown


async def echo(request: web.Request) -> web.WebSocketResponse:
    """Echo every message as it came (text stays text, binary stays binary)."""
    websocket = web.WebSocketResponse(
        compress=False,  # aiohttp offers permessage-deflate unless told not to
        heartbeat=None,  # no keepalive pings: no traffic the client did not ask for
        max_msg_size=WS_MAX_MESSAGE,
        timeout=WS_CLOSE_TIMEOUT,
    )
    await websocket.prepare(request)
    request.app[OPEN].add(websocket)
    try:
        async for message in websocket:
            if message.type == WSMsgType.TEXT:
                await websocket.send_str(message.data)
            elif message.type == WSMsgType.BINARY:
                await websocket.send_bytes(message.data)
    finally:
        request.app[OPEN].discard(websocket)
    return websocket


@contextlib.asynccontextmanager
async def serve(listener: socket.socket, options: ServerOptions) -> AsyncIterator[None]:
    app = web.Application()
    app[OPEN] = set()
    app.router.add_get("/{path:.*}", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(
        runner, listener, ssl_context=options.tls, shutdown_timeout=WS_CLOSE_TIMEOUT
    ).start()
    try:
        yield
    finally:
        # aiohttp leaves open WebSockets to the application: close them, then the server.
        await asyncio.gather(*(ws.close(code=1001) for ws in list(app[OPEN])))
        await runner.cleanup()
