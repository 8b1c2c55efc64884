"""loop.sock_accept, sock_recv_into, sock_sendall: a task per connection, TCP_NODELAY by hand."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from aionetbench.faults import expected_faults_ignored
from servers import READ_SIZE, ServerOptions, set_nodelay


async def echo(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
    """Echo until the peer half-closes (recv returns 0) or goes away."""
    buffer = bytearray(READ_SIZE)
    view = memoryview(buffer)
    with conn, expected_faults_ignored():
        while nbytes := await loop.sock_recv_into(conn, buffer):
            # sock_sendall returns only once the kernel took every byte, so a peer that
            # stops reading stops this loop from reading too: memory stays bounded.
            await loop.sock_sendall(conn, view[:nbytes])


@contextlib.asynccontextmanager
async def serve(listener: socket.socket, options: ServerOptions) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    listener.setblocking(False)
    connections: set[asyncio.Task[None]] = set()

    async def accept_forever() -> None:
        while True:
            conn, _ = await loop.sock_accept(listener)
            conn.setblocking(False)
            set_nodelay(conn)
            task = loop.create_task(echo(loop, conn))
            connections.add(task)
            task.add_done_callback(connections.discard)

    acceptor = loop.create_task(accept_forever())
    try:
        yield
    finally:
        acceptor.cancel()
        for task in list(connections):
            task.cancel()
