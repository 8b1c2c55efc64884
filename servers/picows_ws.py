"""picows WSListener.on_ws_frame: echoes each message with its type; no compression or pings."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

from servers import WS_MAX_MESSAGE, ServerOptions

DATA = (WSMsgType.TEXT, WSMsgType.BINARY)


class Echo(WSListener):
    """picows hands over frames, not messages: a fragmented message is joined here and its
    size checked against the limit (picows limits frames), and a frame with a reserved bit
    set is refused (no extension was negotiated; picows passes it on). picows itself closes
    with 1007 on text that is not UTF-8."""

    def __init__(self, connections: set[WSTransport]) -> None:
        self.connections = connections
        self.transport: WSTransport | None = None
        self.kind: WSMsgType | None = None  # of the fragmented message being joined
        self.parts: list[bytes] = []
        self.size = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.connections.add(transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.connections.discard(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if frame.rsv1:
            self.close(transport, WSCloseCode.PROTOCOL_ERROR)
        elif kind == WSMsgType.CLOSE:
            self.close(transport, frame.get_close_code())
        elif kind in DATA and frame.fin and self.kind is None:  # the usual, unfragmented case
            transport.send(kind, frame.get_payload_as_memoryview())
        elif kind in DATA and self.kind is None:
            self.kind = kind
            self.add_part(transport, frame)
        elif kind == WSMsgType.CONTINUATION and self.kind is not None:
            self.add_part(transport, frame)
            if frame.fin:
                message, kind = b"".join(self.parts), self.kind
                self.kind, self.parts, self.size = None, [], 0
                transport.send(kind, message)
        elif kind in DATA or kind == WSMsgType.CONTINUATION:  # interleaved or orphaned
            self.close(transport, WSCloseCode.PROTOCOL_ERROR)

    def add_part(self, transport: WSTransport, frame: WSFrame) -> None:
        self.size += frame.payload_size
        if self.size > WS_MAX_MESSAGE:
            self.close(transport, WSCloseCode.MESSAGE_TOO_BIG)
        else:
            self.parts.append(frame.get_payload_as_bytes())

    def close(self, transport: WSTransport, code: int) -> None:
        """Answer or start the closing handshake with `code`, then drop the connection."""
        transport.send_close(code)
        transport.disconnect()

    # Back-pressure: while the peer does not read, stop reading from it.
    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.underlying_transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.underlying_transport.resume_reading()


@contextlib.asynccontextmanager
async def serve(listener: socket.socket, options: ServerOptions) -> AsyncIterator[None]:
    connections: set[WSTransport] = set()
    server = await ws_create_server(
        lambda request: Echo(connections),
        sock=listener,
        ssl=options.tls,
        enable_auto_ping=False,  # no keepalive pings: no traffic the client did not ask for
        max_frame_size=WS_MAX_MESSAGE,
        use_aiofastnet=False,
    )
    try:
        yield
    finally:
        server.close()
        for transport in list(connections):
            transport.send_close(WSCloseCode.GOING_AWAY)
            transport.disconnect()
        await asyncio.gather(*(t.wait_disconnected() for t in list(connections)))
