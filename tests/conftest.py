"""Fixtures that start real server processes, and how tests are marked: live, serial, and the
resources of the machine they share. What tests share otherwise lives in tests/helpers/."""

import contextlib
import fcntl
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.commands import HELPERS
from helpers.pool import ServerPool, StartServer

from aionetbench.endpoints import Endpoint
from aionetbench.serverproc import ServerProcess, server_command


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


@pytest.fixture
def refused_endpoint() -> Iterator[Endpoint]:
    """A loopback port bound (so nobody else takes it) but not listening: connects are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield Endpoint("127.0.0.1", sock.getsockname()[1])


# `make check` runs the tests that start no process of the suite (`-m "not live"`), for a
# fast inner loop. A test is live when it uses the server fixtures, or says so with the
# `live` mark; a test that starts a server, client or bench process without saying so
# fails at once, so the fast selection can be trusted.
#
# `make test` runs the live tests four at a time (pytest-xdist), except the `serial` ones,
# which run alone first: those whose assertions depend on a client that keeps its schedule
# (open-loop stalls and their attribution, a sweep's flags). Each says so with the mark,
# and is live by that.
# Tests that share state of the machine (network namespaces, the server Pythons'
# environments) say so with `shares(NAME)`: they hold a lock on NAME while they run, so no
# two of them ever overlap, whichever worker runs them.
SERVER_FIXTURES = {"start_server", "server_pool"}
SUITE_MODULES = {
    "servers",
    "clients",
    "clients.native",
    "clients.selfbench",
    "clients.classic",
    "bench",
}
LOCKS = Path(tempfile.gettempdir())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "live: starts servers, clients or bench commands")
    config.addinivalue_line("markers", "serial: live, and must not share the machine")
    config.addinivalue_line("markers", "shares(name): one test at a time holds this resource")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.live)
        if item.get_closest_marker("serial"):
            item.add_marker(pytest.mark.live)


def starts_the_suite(command: object) -> bool:
    """Whether a command line runs one of the suite's programs (a module or a test script)."""
    words = [str(word) for word in command] if isinstance(command, list | tuple) else []
    modules = {words[i + 1] for i, word in enumerate(words[:-1]) if word == "-m"}
    scripts = any(
        word.endswith(".py") and Path(word).parent in (HELPERS, HELPERS.parent) for word in words
    )
    return bool(modules & SUITE_MODULES) or scripts


@pytest.fixture(autouse=True)
def live_tests_say_so(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("live"):
        return
    popen = subprocess.Popen.__init__

    def checked(self: subprocess.Popen, args: object, *rest: object, **options: object) -> None:
        if starts_the_suite(args):
            raise AssertionError(f"{request.node.nodeid} starts {args}: mark it live")
        popen(self, args, *rest, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(subprocess.Popen, "__init__", checked)


@pytest.fixture(autouse=True)
def one_at_a_time(request: pytest.FixtureRequest) -> Iterator[None]:
    """Hold the lock of every resource the test `shares`, across pytest-xdist workers."""
    with contextlib.ExitStack() as held:
        for mark in request.node.iter_markers("shares"):
            lock = held.enter_context(open(LOCKS / f"aionetbench-tests-{mark.args[0]}.lock", "w"))
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield
