"""Server memory per idle connection: its RSS growth while K idle connections are open."""

import os
import socket
import time

import psutil

from aionetbench.endpoints import Endpoint, connect
from aionetbench.limits import raise_fd_limit
from aionetbench.serverproc import ServerProcess
from bench.measure.explain.driver import ExplainFailed
from clients.wsframes import HandshakeError, blocking_handshake

IDLE_SETTLE_S = 0.2  # for the server to set up the last idle connections
IDLE_BATCH = 64  # idle connections opened at a time, below asyncio's listen backlog of 100


def open_idle(
    endpoint: Endpoint, protocol: str, count: int, server: psutil.Process
) -> list[socket.socket]:
    """`count` idle connections (WebSocket ones past their handshake), opened in batches
    that the server accepts before the next: asyncio listens with a backlog of 100, and an
    overflowing accept queue drops SYNs, which costs a 1 s retransmission each."""
    sockets: list[socket.socket] = []
    try:
        while len(sockets) < count:
            fds = server.num_fds()
            batch = min(IDLE_BATCH, count - len(sockets))
            for _ in range(batch):
                sock = connect(endpoint)
                sockets.append(sock)
                if protocol == "ws":
                    try:
                        blocking_handshake(sock, endpoint.host)
                    except HandshakeError as error:
                        raise ExplainFailed(
                            f"an idle connection's handshake failed: {error}"
                        ) from None
            deadline = time.monotonic() + 5
            while server.num_fds() < fds + batch and time.monotonic() < deadline:
                time.sleep(0.001)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def rss_per_connection(
    server: ServerProcess, protocol: str, count: int, cpus: frozenset[int]
) -> float:
    """Bytes of server RSS each idle connection adds (growth over `count` of them), the
    connections opened from the client's CPUs so the server keeps its own."""
    process = psutil.Process(server.pid)
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        before = process.memory_info().rss
        sockets = open_idle(server.endpoint, protocol, count, process)
        try:
            time.sleep(IDLE_SETTLE_S)
            return (process.memory_info().rss - before) / count
        finally:
            for sock in sockets:
                sock.close()
    finally:
        os.sched_setaffinity(0, affinity)


def idle_connection_count(wanted: int | None) -> tuple[int, str | None]:
    """How many idle connections to open: `wanted`, or 10,000 when the open-file limit
    allows it (raised to the hard limit first) and 1,000 otherwise; plus a note when the
    limit cut it down."""
    limit = raise_fd_limit()
    usable = limit - 256  # the orchestrator's own files, the client's, the server's
    target = wanted if wanted is not None else 10_000
    if usable >= target:
        return target, None
    count = max(0, min(target, usable, 1_000 if wanted is None else usable))
    return count, f"the open-file limit ({limit}) allows {count} idle connections, not {target:,}"
