"""Test peers that share no code with the servers: plain asyncio streams, wsproto, raw frames."""

import asyncio
import os
import socket
import struct

import wsproto
import wsproto.events as ws
from wsproto.extensions import Extension

from aionetbench.endpoints import Endpoint
from aionetbench.tls import client_context
from servers import WEBSOCKET_APIS

Message = str | bytes


async def open_stream(
    endpoint: Endpoint, tls: bool = False
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    ssl_context = client_context() if tls else None
    if endpoint.path is not None:
        return await asyncio.open_unix_connection(
            endpoint.path, ssl=ssl_context, server_hostname="localhost" if tls else None
        )
    return await asyncio.open_connection(endpoint.host, endpoint.port, ssl=ssl_context)


async def tcp_echo_exact(endpoint: Endpoint, payloads: list[bytes], tls: bool = False) -> None:
    """Send each payload on one connection and check its echo byte for byte."""
    reader, writer = await open_stream(endpoint, tls)
    try:
        for payload in payloads:
            writer.write(payload)
            echoed = await reader.readexactly(len(payload))
            assert echoed == payload, f"echo of {len(payload)} bytes differs"
    finally:
        writer.close()


def blocking_connect(endpoint: Endpoint) -> socket.socket:
    if endpoint.path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(endpoint.path)
        return sock
    return socket.create_connection((endpoint.host, endpoint.port), timeout=10)


def blocking_ws_connect(endpoint: Endpoint) -> socket.socket:
    """A blocking socket past the WebSocket opening handshake (its key is not checked:
    what the server sends after it is the test's business)."""
    sock = blocking_connect(endpoint)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n")  # fmt: skip
    response = b""
    while b"\r\n\r\n" not in response:  # one byte at a time: nothing after it is consumed
        byte = sock.recv(1)
        assert byte, f"closed during the handshake: {response!r}"
        response += byte
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bool = True
) -> bytes:
    """Encode one RFC 6455 frame by hand, so tests can also build frames that break the rules."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, (0x80 if mask else 0) | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, length)
    else:
        header = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, length)
    if not mask:
        return header + payload
    key = os.urandom(4)
    if not payload:
        return header + key
    # XOR as one big integer: byte by byte in Python took 2 s for a 16 MiB message.
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return header + key + masked.to_bytes(len(payload), "big")


OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2


class WsPeer:
    """A WebSocket client driven by wsproto over asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.conn = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self.events: list[ws.Event] = []
        self.accepted: ws.AcceptConnection | None = None

    @classmethod
    async def connect(
        cls, endpoint: Endpoint, tls: bool = False, extensions: list[Extension] | None = None
    ) -> "WsPeer":
        peer = cls(*await open_stream(endpoint, tls))
        await peer.send(ws.Request(host="localhost", target="/", extensions=extensions or []))
        event = await peer.next_event()
        assert isinstance(event, ws.AcceptConnection), f"handshake refused: {event}"
        peer.accepted = event
        return peer

    async def send(self, event: ws.Event) -> None:
        self.writer.write(self.conn.send(event))
        await self.writer.drain()

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def next_event(self, timeout: float = 10.0) -> ws.Event:
        while not self.events:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            self.conn.receive_data(data or None)
            self.events.extend(self.conn.events())
            if not data and not self.events:
                raise EOFError("connection closed without an event")
        return self.events.pop(0)

    async def receive_message(self) -> Message:
        """Receive one whole message, joining fragments; text stays str, binary bytes."""
        parts: list[Message] = []
        while True:
            event = await self.next_event()
            assert isinstance(event, ws.Message), f"expected a message, got {event}"
            parts.append(event.data)
            if event.message_finished:
                return "".join(parts) if isinstance(event, ws.TextMessage) else b"".join(parts)

    async def close_code(self) -> int:
        """Read until the server's close frame and return its code. A message first is a
        failure: a server that must close has no business echoing (and a test that waited
        for a close that never comes would only time out later)."""
        while True:
            event = await self.next_event()
            if isinstance(event, ws.CloseConnection):
                return event.code
            assert not isinstance(event, ws.Message), f"expected a close, got {event}"

    def abort(self) -> None:
        self.writer.transport.abort()


async def ws_echo_exact(endpoint: Endpoint, payloads: list[bytes], tls: bool = False) -> None:
    """Send each payload as a binary message on one WebSocket and check its echo."""
    peer = await WsPeer.connect(endpoint, tls)
    try:
        for payload in payloads:
            await peer.send(ws.BytesMessage(payload))
            assert await peer.receive_message() == payload, f"echo of {len(payload)} bytes differs"
    finally:
        peer.abort()


async def echo_exact(
    api: str, endpoint: Endpoint, payloads: list[bytes], tls: bool = False
) -> None:
    """Check byte-exact echo of `payloads` on one connection, in the API's own framing (for
    `readline`, each payload's last byte becomes a newline: a line server echoes lines)."""
    if api == "readline":
        payloads = [payload[:-1] + b"\n" for payload in payloads]
    echo = ws_echo_exact if api in WEBSOCKET_APIS else tcp_echo_exact
    await echo(endpoint, payloads, tls)
