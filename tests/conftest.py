"""Fixtures that start real server processes and check they never print a traceback."""

import contextlib
import fcntl
import itertools
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aionetbench.endpoints import Endpoint
from aionetbench.loops import LOOPS, NO_UNIX_TRANSPORTS
from aionetbench.serverproc import ServerProcess, server_command
from servers import SERVERS


def unbuilt(api: str) -> list[pytest.MarkDecorator]:
    """A skip for a server whose native program is not built (no C compiler)."""
    binary = SERVERS[api].binary
    if binary is None or os.access(binary, os.X_OK):
        return []
    return [pytest.mark.skip(reason=f"{api}: {binary.name} not built (no C compiler?)")]


# Every API on every loop; a reference without a loop (native) once, skipped if not built.
API_LOOPS = [
    pytest.param(api, loop, id=f"{api}-{loop}", marks=unbuilt(api))
    for api, loop in itertools.product(SERVERS, LOOPS)
    if not SERVERS[api].reference
] + [
    pytest.param(api, LOOPS[0], id=api, marks=unbuilt(api))
    for api, server in SERVERS.items()
    if server.reference
]


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


RLOOP_TRANSPORTS = tuple(
    api for api, server in SERVERS.items() if server.on_transports and not server.reference
)
# rloop 0.5's transports never finish a half-close: the echo after the peer's EOF and the
# server's own close do not come (a WebSocket closes with its handshake and is not affected).
HALF_CLOSE_API_LOOPS = with_rloop_gap(
    pytest.mark.xfail(strict=True, reason="rloop 0.5: no half-close on its transports"),
    tuple(api for api in RLOOP_TRANSPORTS if SERVERS[api].framing != "ws"),
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
# What the registry and the loops say cannot serve a Unix socket exits 2 as unsupported
# (tests/test_cli.py checks that), and so does what has no TLS; rloop has no TLS at all.
UNIX_API_LOOPS = [
    param
    for param in API_LOOPS
    if not SERVERS[param.values[0]].no_unix
    and not (SERVERS[param.values[0]].on_transports and param.values[1] in NO_UNIX_TRANSPORTS)
]
TLS_API_LOOPS = [
    param
    for param in API_LOOPS
    if not SERVERS[param.values[0]].no_tls and param.values[1] != "rloop"
]
FAULTY_SERVER = str(Path(__file__).with_name("faulty_server.py"))

StartServer = Callable[..., ServerProcess]


class ServerPool:
    """Servers started by one test; `stop_all` stops them and fails on any traceback."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[ServerProcess] = []

    def start(self, command: list[str], env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(
            command, stderr_path=self.directory / f"server{len(self.started)}.err", env=env
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


# `make check` runs the tests that start no process of the suite (`-m "not live"`), for a
# fast inner loop. A test is live when it uses the server fixtures, or says so with the
# `live` mark; a test that starts a server, client or bench process without saying so
# fails at once, so the fast selection can be trusted.
#
# `make test` runs the live tests four at a time (pytest-xdist), except the `serial` ones,
# which run alone first: those whose assertions depend on timing (open-loop stalls and
# schedules, loop passes, a sweep's flags). Every live test of SERIAL_MODULES is serial.
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
SERIAL_MODULES = {"test_open_loop"}
LOCKS = Path(tempfile.gettempdir())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "live: starts servers, clients or bench commands")
    config.addinivalue_line("markers", "serial: live, and must not share the machine")
    config.addinivalue_line("markers", "shares(name): one test at a time holds this resource")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.live)
        if item.get_closest_marker("live") and item.module.__name__ in SERIAL_MODULES:  # type: ignore[attr-defined]
            item.add_marker(pytest.mark.serial)


def starts_the_suite(command: object) -> bool:
    """Whether a command line runs one of the suite's programs (a module or a test script)."""
    words = [str(word) for word in command] if isinstance(command, list | tuple) else []
    modules = {words[i + 1] for i, word in enumerate(words[:-1]) if word == "-m"}
    scripts = any(
        word.endswith(".py") and Path(word).parent == Path(__file__).parent for word in words
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
