"""Faults are not crashes: half-close, resets, garbage, slow readers and signals, on every API x loop."""

import asyncio
import json
import os
import select
import signal
import socket
import struct
import time

import psutil
import pytest
from helpers.commands import NEEDS_NATIVE, client
from helpers.matrix import (
    API_LOOPS,
    HALF_CLOSE_API_LOOPS,
    RESET_API_LOOPS,
    SLOW_READER_API_LOOPS,
    TLS_API_LOOPS,
    with_gaps,
)
from helpers.peers import (
    OP_BINARY,
    WsPeer,
    blocking_connect,
    blocking_ws_connect,
    echo_exact,
    frame,
    open_stream,
)
from wsproto.events import BytesMessage, CloseConnection

from aionetbench.endpoints import Endpoint
from aionetbench.loops import STOCK
from servers import WEBSOCKET_APIS

pytestmark = pytest.mark.live  # every test here starts servers or the suite's commands

MIB = 1024 * 1024
PUSH_LIMIT = 512 * MIB  # what the slow reader tries to push without reading anything back
RSS_GROWTH_LIMIT = 64 * MIB
STALL_SECONDS = 1.0  # the push ends once the server has taken nothing for this long


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0, so the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def still_echoes(api: str, endpoint: Endpoint, tls: bool = False) -> None:
    asyncio.run(asyncio.wait_for(echo_exact(api, endpoint, [b"still there?"], tls), 10))


@pytest.mark.parametrize(("api", "loop"), HALF_CLOSE_API_LOOPS)
def test_half_close_echoes_everything_then_closes(start_server, api: str, loop: str) -> None:
    server = start_server(api, loop)
    payloads = [os.urandom(n) for n in (1, 1000, 300_000)]

    async def tcp() -> None:
        reader, writer = await open_stream(server.endpoint)
        writer.write(b"".join(payloads))
        writer.write_eof()
        assert await reader.read() == b"".join(payloads)  # read() returns at the server's EOF
        writer.close()

    async def websocket() -> None:
        # A WebSocket closes with a closing handshake, and websockets answers a close frame at
        # once (RFC 6455 5.5.1 allows it), dropping echoes not yet sent. So the peer waits for
        # its echoes, then closes, and the server must answer 1000.
        peer = await WsPeer.connect(server.endpoint)
        for payload in payloads:
            await peer.send(BytesMessage(payload))
        assert [await peer.receive_message() for _ in payloads] == payloads
        await peer.send(CloseConnection(1000))
        assert await peer.close_code() == 1000

    asyncio.run(asyncio.wait_for(websocket() if api in WEBSOCKET_APIS else tcp(), 3))


@pytest.mark.parametrize(("api", "loop"), RESET_API_LOOPS)
def test_reset_and_garbage_do_not_disturb_the_server(start_server, api: str, loop: str) -> None:
    server = start_server(api, loop)
    # Reset with unread data pending on both sides.
    sock = blocking_connect(server.endpoint)
    sock.sendall(os.urandom(200_000))
    reset(sock)
    # Disconnect halfway through a message (for websockets: half a frame).
    sock = blocking_connect(server.endpoint)
    sock.sendall(frame(OP_BINARY, os.urandom(100_000))[:50_000])
    sock.close()
    # Garbage instead of a handshake, then a reset.
    sock = blocking_connect(server.endpoint)
    sock.sendall(b"\x16\x03\x01 this is not HTTP\r\n\r\n" + os.urandom(1000))
    reset(sock)
    time.sleep(0.2)
    still_echoes(api, server.endpoint)


@pytest.mark.parametrize(("api", "loop"), TLS_API_LOOPS)
def test_tls_garbage_and_reset(start_server, api: str, loop: str) -> None:
    server = start_server(api, loop, "tls")
    for data in (b"GET / HTTP/1.1\r\n\r\n", b"\x16\x03\x01\x00\xff" + os.urandom(300)):
        sock = blocking_connect(server.endpoint)
        sock.sendall(data)
        reset(sock)
    time.sleep(0.2)
    still_echoes(api, server.endpoint, tls=True)


def push_without_reading(api: str, endpoint: Endpoint, server_pid: int) -> tuple[int, int]:
    """Write up to PUSH_LIMIT without ever reading; return (bytes pushed, peak server RSS growth)."""
    server = psutil.Process(server_pid)
    sock = blocking_connect(endpoint)
    if api in WEBSOCKET_APIS:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        chunk = frame(OP_BINARY, os.urandom(MIB - 16))
    else:
        chunk = os.urandom(MIB)
    sock.setblocking(False)
    baseline = server.memory_info().rss
    peak = baseline
    pushed, view, last_progress = 0, memoryview(chunk), time.monotonic()
    while pushed < PUSH_LIMIT and time.monotonic() - last_progress < STALL_SECONDS:
        select.select([], [sock], [], 0.1)
        try:
            sent = sock.send(view)
        except BlockingIOError:
            sent = 0
        if sent:
            pushed += sent
            view = view[sent:] or memoryview(chunk)
            last_progress = time.monotonic()
            peak = max(peak, server.memory_info().rss)
    peak = max(peak, server.memory_info().rss)
    reset(sock)
    return pushed, peak - baseline


@pytest.mark.parametrize(("api", "loop"), SLOW_READER_API_LOOPS)
def test_slow_reader_cannot_grow_server_memory(start_server, api: str, loop: str) -> None:
    server = start_server(api, loop)
    pushed, growth = push_without_reading(api, server.endpoint, server.pid)
    print(
        f"{api}/{loop}: pushed {pushed / MIB:.1f} MiB unread, server RSS grew {growth / MIB:.1f} MiB"
    )
    assert growth < RSS_GROWTH_LIMIT
    assert pushed < PUSH_LIMIT, "the server took everything: it is not applying back-pressure"
    still_echoes(api, server.endpoint)


# SIGTERM on every API x loop; SIGINT, which reaches the same handler (servers.cli.on_signal),
# on every API on the stock loop and on every loop for one API.
SIGNAL_CASES = [
    pytest.param(*p.values, signum, id=f"{p.id}-{signum.name}", marks=p.marks)
    for p in API_LOOPS
    for signum in (signal.SIGTERM, signal.SIGINT)
    if signum == signal.SIGTERM or p.values[1] == STOCK or p.values[0] == "protocol"
]


@pytest.mark.parametrize(("api", "loop", "signum"), SIGNAL_CASES)
def test_signal_stops_server_cleanly(start_server, api: str, loop: str, signum: int) -> None:
    server = start_server(api, loop)
    idle = blocking_connect(server.endpoint)
    # An unread echo pending (a WebSocket server's needs a message, not garbage, or it
    # closes first): shutdown must not wait for it.
    if api in WEBSOCKET_APIS:
        busy = blocking_ws_connect(server.endpoint)
        busy.sendall(frame(OP_BINARY, os.urandom(MIB)))
    else:
        busy = blocking_connect(server.endpoint)
        busy.sendall(os.urandom(MIB))
    time.sleep(0.1)
    status, seconds = server.stop(signum)
    assert status == 0
    assert seconds < 2.0
    idle.settimeout(2)
    assert idle.recv(65536) == b"", "the server left a connection open"
    idle.close()
    reset(busy)


# Far past every loop's capacity for these APIs here (100,000-220,000 msg/s): the server's
# writes back up while it goes on reading, and every echo must stay exact all the same.
OVERLOAD = ["--rate", "500000", "--duration", "0.5", "--warmup", "0.1", "--drain", "0.2", "--json"]
# veloxloop 0.2 breaks under it: replies that differ from what was sent from their first
# byte, connections reset, or a reset escaping its run_forever() and killing the server (3
# of 3 runs at 300,000 msg/s on streams, pinned apart; 1 of 2 sweeps at 240,000 on
# protocol), but not in every run on a machine shared with other tests: skipped, with that.
OVERLOADED_APIS = ("streams", "protocol")
OVERLOAD_API_LOOPS = [
    p
    for p in with_gaps(("veloxloop", pytest.mark.skip(
        reason="veloxloop 0.2: corrupts or resets echoes under overload"), OVERLOADED_APIS))
    if p.values[0] in OVERLOADED_APIS
]  # fmt: skip


@NEEDS_NATIVE
@pytest.mark.parametrize(("api", "loop"), OVERLOAD_API_LOOPS)
def test_overload_keeps_every_echo_exact(start_server, api: str, loop: str) -> None:
    server = start_server(api, loop)
    result = client(server.endpoint, *OVERLOAD, program="clients.native")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["errors"] == 0
