"""The client side of RFC 6455, just enough to benchmark an echo server, with no I/O (but
for `blocking_handshake`, for the tools that talk to one server over blocking sockets).

Frames are built once per workload (masked with a fresh random key each), so sending a
message costs no masking work; the server's unmasked replies are deterministic too, which
lets the workload verify them as a plain byte stream.
"""

import base64
import hashlib
import os
import socket
import struct

from clients.workload import Workload, build_workload

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
OP_BINARY = 0x2
FIN = 0x80
MASKED = 0x80


class HandshakeError(Exception):
    """The server did not accept the WebSocket upgrade."""


def frame_header(opcode: int, length: int, masked: bool) -> bytes:
    mask_bit = MASKED if masked else 0
    if length < 126:
        return struct.pack("!BB", FIN | opcode, mask_bit | length)
    if length < 1 << 16:
        return struct.pack("!BBH", FIN | opcode, mask_bit | 126, length)
    return struct.pack("!BBQ", FIN | opcode, mask_bit | 127, length)


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR the payload with the repeated 4-byte key, using big integers for speed."""
    if not payload:
        return b""
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    xored = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return xored.to_bytes(len(payload), "big")


def client_frame(payload: bytes) -> bytes:
    """A masked binary frame, as a client must send."""
    key = os.urandom(4)
    return frame_header(OP_BINARY, len(payload), masked=True) + key + mask(payload, key)


def server_frame(payload: bytes) -> bytes:
    """The unmasked binary frame a server sends back."""
    return frame_header(OP_BINARY, len(payload), masked=False) + payload


def ws_workload(payload_size: int) -> Workload:
    return build_workload(payload_size, client_frame, server_frame)


def handshake_request(host: str, key: bytes) -> bytes:
    return (
        f"GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def new_key() -> bytes:
    return base64.b64encode(os.urandom(16))


def parse_handshake_response(buffer: bytes, key: bytes) -> int | None:
    """Return the length of a complete, valid 101 response, None if incomplete; raise if refused."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    status, *headers = buffer[:end].decode("latin-1").split("\r\n")
    if status.split(" ")[1:2] != ["101"]:
        raise HandshakeError(f"upgrade refused: {status!r}")
    fields = {
        name.strip().lower(): value.strip()
        for name, _, value in (h.partition(":") for h in headers)
    }
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    if fields.get("sec-websocket-accept") != accept:
        raise HandshakeError("bad Sec-WebSocket-Accept")
    if fields.get("sec-websocket-extensions"):
        raise HandshakeError(f"unrequested extensions: {fields['sec-websocket-extensions']}")
    return end + 4


def blocking_handshake(sock: socket.socket, host: str) -> None:
    """The opening handshake on a blocking socket; HandshakeError if refused or closed."""
    key = new_key()
    sock.sendall(handshake_request(host, key))
    response = b""
    while parse_handshake_response(response, key) is None:
        chunk = sock.recv(4096)
        if not chunk:
            raise HandshakeError("the server closed the connection during the handshake")
        response += chunk
