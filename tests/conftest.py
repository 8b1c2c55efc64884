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
from servers import APIS, LOOPLESS
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
TLS_API_LOOPS = [param for param in API_LOOPS if param.values[0] not in ("sockets", "native")]
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
