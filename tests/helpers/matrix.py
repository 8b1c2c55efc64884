"""The server matrix the conformance tests run over: every API on every loop that can serve
it, with what a loop is known to lack marked where it is tested."""

import itertools
import os

import pytest

from aionetbench.loops import LOOPS, STOCK, LoopUnavailable
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
