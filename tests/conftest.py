"""Fixtures that start real server processes and check they never print a traceback."""

import itertools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aionetbench.endpoints import Endpoint
from aionetbench.loops import LOOPS
from aionetbench.serverproc import ServerProcess, server_command
from servers import APIS, LOOPLESS, WEBSOCKET_APIS
from servers.native import BINARY

NATIVE_MISSING = pytest.mark.skipif(
    not os.access(BINARY, os.X_OK), reason="native server not built (no C compiler?)"
)
# Every API on every loop; an API without a loop (native) once, skipped if it is not built.
API_LOOPS = [
    pytest.param(api, loop, id=f"{api}-{loop}")
    for api, loop in itertools.product(APIS, LOOPS)
    if api not in LOOPLESS
] + [pytest.param(api, LOOPS[0], id=api, marks=NATIVE_MISSING) for api in LOOPLESS]


# rloop has no TLS: its servers exit 2 as unsupported (tests/test_cli.py checks that).
def with_rloop_gap(mark: pytest.MarkDecorator, apis: tuple[str, ...]) -> list:
    """API_LOOPS with `mark` on the rloop cells of `apis`: what rloop 0.5 is known to lack,
    stated where it is tested (a strict xfail turns red the day rloop gains it)."""
    return [
        pytest.param(*p.values, id=p.id, marks=[*p.marks, mark])
        if p.values[1] == "rloop" and p.values[0] in apis
        else p
        for p in API_LOOPS
    ]


RLOOP_TRANSPORTS = ("streams", "readline", "protocol", "buffered", *WEBSOCKET_APIS)
# rloop 0.5's transports never finish a half-close: the echo after the peer's EOF and the
# server's own close do not come (a WebSocket closes with its handshake and is not affected).
HALF_CLOSE_API_LOOPS = with_rloop_gap(
    pytest.mark.xfail(strict=True, reason="rloop 0.5: no half-close on its transports"),
    ("streams", "readline", "protocol", "buffered"),
)
# rloop 0.5's transports let a reader that never reads grow the server by 20-90 MiB
# (measured), past this suite's 64 MiB bound; the figure varies run to run.
SLOW_READER_API_LOOPS = with_rloop_gap(
    pytest.mark.skip(reason="rloop 0.5: its transports buffer 20-90 MiB for a slow reader"),
    RLOOP_TRANSPORTS,
)
# aiohttp 3.14 on rloop 0.5: a connection reset while aiohttp reads a request makes its
# handler task fail with "TypeError: 'NoneType' object is not callable", which asyncio logs
# with a traceback. The server goes on serving; the no-traceback check cannot pass.
RESET_API_LOOPS = with_rloop_gap(
    pytest.mark.skip(reason="aiohttp 3.14 on rloop 0.5: a reset logs a TypeError traceback"),
    ("aiohttp",),
)
# rloop serves Unix sockets only through sock_*, and picows none: they exit 2 as unsupported.
UNIX_API_LOOPS = [
    param
    for param in API_LOOPS
    if (param.values[1] != "rloop" or param.values[0] == "sockets") and param.values[0] != "picows"
]
TLS_API_LOOPS = [
    param
    for param in API_LOOPS
    if param.values[0] not in ("sockets", "native") and param.values[1] != "rloop"
]
FAULTY_SERVER = str(Path(__file__).with_name("faulty_server.py"))

StartServer = Callable[..., ServerProcess]


class ServerPool:
    """Servers started by one test; `stop_all` stops them and fails on any traceback."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[ServerProcess] = []

    def start(self, command: list[str]) -> ServerProcess:
        server = ServerProcess(
            command, stderr_path=self.directory / f"server{len(self.started)}.err"
        )
        self.started.append(server)
        return server

    def start_faulty(self, *args: str) -> ServerProcess:
        """Start tests/faulty_server.py, an echo server that misbehaves on purpose."""
        return self.start([sys.executable, FAULTY_SERVER, *args])

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()
            server.kill()
            assert "Traceback" not in server.stderr_text(), server.stderr_text()


@pytest.fixture
def server_pool(tmp_path: Path) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path)
    yield pool
    pool.stop_all()


@pytest.fixture
def start_server(server_pool: ServerPool, tmp_path: Path) -> StartServer:
    """Start `python -m servers API` on loopback: a free TCP port, a Unix socket, or TLS."""

    def start(
        api: str,
        loop: str = "asyncio",
        transport: str = "tcp",
        listen: Endpoint | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> ServerProcess:
        if listen is None:
            unix = transport == "unix"
            listen = Endpoint(path=str(tmp_path / f"{api}.sock")) if unix else Endpoint(port=0)
        tls = transport == "tls"
        return server_pool.start(
            server_command(api, loop=loop, listen=listen, tls=tls, extra_args=extra_args)
        )

    return start
