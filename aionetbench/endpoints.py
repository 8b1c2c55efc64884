"""Where a server listens and a client connects: TCP host:port or a Unix socket path."""

import contextlib
import os
import socket
import stat
import time
from dataclasses import dataclass

from aionetbench.errors import UsageError

UNIX_PREFIX = "unix:"
PORTS = range(1, 65536)  # the ports a client can connect to


@dataclass(frozen=True)
class Endpoint:
    """A TCP address (host, port) or, when `path` is set, a Unix socket."""

    host: str = "127.0.0.1"
    port: int = 25000
    path: str | None = None

    def __str__(self) -> str:
        if self.path is not None:
            return f"{UNIX_PREFIX}{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> "Endpoint":
        """Parse `unix:PATH`, `HOST:PORT` or `[IPV6]:PORT`, as printed by `str()`."""
        if text.startswith(UNIX_PREFIX):
            return cls(path=text.removeprefix(UNIX_PREFIX))
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise UsageError(f"expected HOST:PORT or unix:PATH, got {text!r}")
        if int(port) not in PORTS:
            raise UsageError(f"port {port} is outside 1-65535")
        return cls(host=host.removeprefix("[").removesuffix("]"), port=int(port))

    @classmethod
    def of_listener(cls, sock: socket.socket) -> "Endpoint":
        """The endpoint a listening socket is bound to (the real port when 0 was asked for)."""
        if sock.family == socket.AF_UNIX:
            return cls(path=sock.getsockname())
        host, port = sock.getsockname()[:2]
        return cls(host=host, port=port)


def connect(endpoint: Endpoint, timeout: float = 10.0) -> socket.socket:
    """A blocking connection to a TCP or Unix endpoint."""
    if endpoint.path is None:
        return socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(endpoint.path)
    except OSError:
        sock.close()
        raise
    return sock


WARM_SETTLE_S = 0.05  # for the server to read the warming connection's EOF


def warm(endpoint: Endpoint) -> None:
    """Open and close one connection, so the server has read an EOF before it is measured.

    A server process that has never seen a connection close is in a state no long-running
    server stays in: its first connection's imports, buffers and handshake paths. It was
    found for glibc's mmap threshold (asyncio `protocol` 47k req/s fresh, 181k after one
    closed connection), which the servers now also settle themselves before serving
    (servers.cli.settle_malloc). OSError if the server does not accept.
    """
    connect(endpoint, timeout=5).close()
    time.sleep(WARM_SETTLE_S)


def listen(endpoint: Endpoint, backlog: int = 1024) -> socket.socket:
    """Bind and listen, raising UsageError with the reason when that is not possible.

    A TCP listener carries its protocol number (IPPROTO_TCP), as one asyncio creates from an
    address does: asyncio's transports turn Nagle off only on sockets that say so
    (base_events._set_nodelay), and `socket.create_server` says 0. Without it every asyncio
    server given this socket ran with Nagle on, and uvloop's (which sets TCP_NODELAY
    regardless) without: docs/servers.md."""
    try:
        if endpoint.path is not None:
            return _listen_unix(endpoint.path, backlog)
        family = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.create_server(
            (endpoint.host, endpoint.port), family=family, backlog=backlog
        )
        return socket.socket(fileno=listener.detach())  # the kernel's family, type and protocol
    except OSError as error:
        raise UsageError(f"cannot listen on {endpoint}: {error.strerror or error}") from None


def _listen_unix(path: str, backlog: int) -> socket.socket:
    """Listen on a Unix socket, replacing a stale socket file but never a live one."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.stat(path).st_mode):
            if _accepts_connections(path):
                raise OSError(f"{path} is in use by a running server")
            os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def _accepts_connections(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
        return True
