"""Fixtures that start real `python -m servers` children and check they never print a traceback."""

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aionetbench.endpoints import Endpoint
from aionetbench.loops import LOOPS
from bench.serverproc import ServerProcess
from servers import APIS

API_LOOPS = [
    pytest.param(api, loop, id=f"{api}-{loop}") for api, loop in itertools.product(APIS, LOOPS)
]
TLS_API_LOOPS = [param for param in API_LOOPS if param.values[0] != "sockets"]

StartServer = Callable[..., ServerProcess]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start servers for one test; on teardown stop them and fail on any traceback they printed."""
    started: list[ServerProcess] = []

    def start(
        api: str,
        loop: str = "asyncio",
        transport: str = "tcp",
        listen: Endpoint | None = None,
        **kwargs,
    ) -> ServerProcess:
        if listen is None:
            unix = transport == "unix"
            listen = Endpoint(path=str(tmp_path / f"{api}.sock")) if unix else Endpoint(port=0)
        server = ServerProcess(
            api,
            loop=loop,
            listen=listen,
            tls=transport == "tls",
            stderr_path=tmp_path / f"server{len(started)}.err",
            **kwargs,
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
        server.kill()
        assert "Traceback" not in server.stderr_text(), server.stderr_text()
