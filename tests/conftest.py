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
from aionetbench.loops import LOOPS, STOCK, LoopUnavailable
from aionetbench.serverproc import ServerProcess, server_command
from servers import SERVERS


def unbuilt(api: str) -> list[pytest.MarkDecorator]:
    """A skip for a server whose native program is not built (no C compiler)."""
    binary = SERVERS[api].binary
    if binary is None or os.access(binary, os.X_OK):
        return []
    return [pytest.mark.skip(reason=f"{api}: {binary.name} not built (no C compiler?)")]


def unavailable(loop: str) -> list[pytest.MarkDecorator]:
    """A skip for a loop this interpreter cannot run (no wheel for it): said, not failed."""
    try:
        LOOPS[loop].resolve()
    except LoopUnavailable as error:
        return [pytest.mark.skip(reason=str(error))]
    return []


# Every API on every loop that can run it (what a loop lacks is refused as unsupported:
# tests/test_loops.py); a reference without a loop (native) once, skipped if not built.
API_LOOPS = [
    pytest.param(api, loop, id=f"{api}-{loop}", marks=unbuilt(api) + unavailable(loop))
    for api, loop in itertools.product(SERVERS, LOOPS)
    if not SERVERS[api].reference and not LOOPS[loop].lacks(api)
] + [
    pytest.param(api, STOCK, id=api, marks=unbuilt(api))
    for api, server in SERVERS.items()
    if server.reference
]


# Unsupported cells exit 2 as such (tests/test_cli.py, tests/test_loops.py checks that).
Gap = tuple[str, pytest.MarkDecorator, tuple[str, ...]]  # (loop, mark, the APIs it marks)


def with_gaps(*gaps: Gap) -> list:
    """API_LOOPS with each gap's mark on its loop's cells of its APIs: what a loop is known
    to lack, stated where it is tested (a strict xfail turns red the day the loop gains it;
    a skip is for a gap whose size or occurrence varies run to run)."""
    marks: dict[tuple[str, str], list] = {}
    for loop, mark, apis in gaps:
        for api in apis:
            marks.setdefault((api, loop), []).append(mark)
    return [
        pytest.param(*p.values, id=p.id, marks=[*p.marks, *marks[tuple(p.values)]])
        if tuple(p.values) in marks
        else p
        for p in API_LOOPS
    ]


TRANSPORT_APIS = tuple(
    api for api, server in SERVERS.items() if server.on_transports and not server.reference
)
BYTE_TRANSPORT_APIS = tuple(api for api in TRANSPORT_APIS if SERVERS[api].framing != "ws")
# rloop 0.5's transports never finish a half-close: the echo after the peer's EOF and the
# server's own close do not come (a WebSocket closes with its handshake and is not affected).
HALF_CLOSE_API_LOOPS = with_gaps(
    ("rloop", pytest.mark.xfail(strict=True, reason="rloop 0.5: no half-close on its transports"),
     BYTE_TRANSPORT_APIS),
)  # fmt: skip
# A reader that never reads must not grow the server past 64 MiB. rloop 0.5's transports
# buffer 20-90 MiB (measured; the figure varies run to run); veloxloop 0.2 never pauses
# the writer (no pause_writing() at all) and grew one server to 535 MB, all but websockets,
# which stopped itself (it waits for its writes to drain) in one run of two.
SLOW_READER_API_LOOPS = with_gaps(
    ("rloop", pytest.mark.skip(reason="rloop 0.5: its transports buffer 20-90 MiB for a slow reader"),
     TRANSPORT_APIS),
    ("veloxloop", pytest.mark.skip(reason="veloxloop 0.2: no flow control, a slow reader grew a server to 535 MB"),
     TRANSPORT_APIS),
)  # fmt: skip
# aiohttp 3.14 on rloop 0.5: a connection reset while aiohttp reads a request makes its
# handler task fail with "TypeError: 'NoneType' object is not callable", which asyncio logs
# with a traceback. veloxloop 0.2: transport.write() after the peer's reset raises
# ConnectionResetError or BrokenPipeError into the protocol, in 2 of 3 runs. Either server
# goes on serving; the no-traceback check cannot pass.
RESET_API_LOOPS = with_gaps(
    ("rloop", pytest.mark.skip(reason="aiohttp 3.14 on rloop 0.5: a reset logs a TypeError traceback"),
     ("aiohttp",)),
    ("veloxloop", pytest.mark.skip(reason="veloxloop 0.2: write() after a reset raises into the protocol"),
     TRANSPORT_APIS),
)  # fmt: skip
# What the registry and the loops say cannot serve a Unix socket exits 2 as unsupported
# (tests/test_cli.py checks that), and so does what has no TLS; rloop has no TLS at all.
UNIX_API_LOOPS = [
    param
    for param in API_LOOPS
    if not SERVERS[param.values[0]].no_unix
    and not (SERVERS[param.values[0]].on_transports and LOOPS[param.values[1]].no_unix_transports)
]
TLS_API_LOOPS = [
    param
    for param in API_LOOPS
    if not SERVERS[param.values[0]].no_tls and not LOOPS[param.values[1]].no_tls
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
