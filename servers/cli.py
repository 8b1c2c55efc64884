"""`python -m servers API`: the plumbing every echo server shares.

Binds the listener (so a port in use or a bad path is one clear error), picks the loop,
makes the TLS context, prints the readiness line and stops cleanly on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from types import ModuleType

from aionetbench.endpoints import Endpoint, listen
from aionetbench.errors import UNSUPPORTED, UsageError, run_command
from aionetbench.faults import configure_logging
from aionetbench.limits import raise_fd_limit
from aionetbench.loops import STOCK, loop_argument, loop_named
from aionetbench.tls import server_context
from servers import READ_SIZE, SERVERS, ServerOptions, gcwatch

# Seconds a variant gets to close its connections after a signal before it is cut off, so
# that a peer stuck mid-handshake cannot hold the process past the 2 s shutdown promise.
SHUTDOWN_GRACE = 1.0
COUNT_CALLS_ENV = "AIONETBENCH_COUNT_CALLS"
NO_GC_WATCH_ENV = "AIONETBENCH_NO_GC_WATCH"  # set: no servers.gcwatch (to measure its cost)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m servers",
        description="Run one echo server variant. Prints 'READY <address>' once listening; "
        "SIGTERM or SIGINT stops it with exit status 0.",
    )
    parser.add_argument("api", nargs="?", choices=SERVERS, metavar="API", help="API under test")
    parser.add_argument("--list", action="store_true", help="list the APIs and exit")
    parser.add_argument(
        "--about",
        action="store_true",
        help="print this interpreter's version and the server libraries' as JSON, and exit",
    )
    parser.add_argument(
        "--loop",
        type=loop_argument,
        default=STOCK,
        help="event loop: a name from aionetbench.loops, BASE+LAYER (uvloop+aiofastnet) or "
        "MODULE:FACTORY (default %(default)s; the native server has none)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="TCP host (default %(default)s)")
    parser.add_argument(
        "--port", type=int, default=25000, help="TCP port, 0 for any free one (default %(default)s)"
    )
    parser.add_argument("--unix", metavar="PATH", help="listen on a Unix socket instead of TCP")
    parser.add_argument("--tls", action="store_true", help="TLS with a fresh self-signed cert")
    parser.add_argument(
        "--compression",
        choices=("none", "deflate"),
        default="none",
        help="websockets only: permessage-deflate (default %(default)s)",
    )
    args = parser.parse_args(argv)
    if not (args.list or args.about) and args.api is None:
        parser.error("an API is required (see --list)")
    if args.compression != "none" and args.api != "websockets":
        parser.error("--compression applies to the websockets API only")
    return args


def list_apis() -> None:
    """Print each API with the first line of its module's docstring."""
    for name, server in SERVERS.items():
        summary = (importlib.import_module(server.module).__doc__ or "").strip().splitlines()[0]
        print(f"{name:<11} {summary}")


def main(argv: list[str] | None = None) -> None:
    run_command("servers", lambda: run(parse_args(argv)))


def run(args: argparse.Namespace) -> int:
    raise_fd_limit()
    if args.list:
        list_apis()
        return 0
    if args.about:
        from aionetbench.about import about  # importlib.metadata: only for this question

        print(json.dumps(about()))
        return 0
    server = SERVERS[args.api]
    if args.tls and server.no_tls:
        raise UsageError(f"{args.api} --tls: {server.no_tls}")
    loop = loop_named(args.loop)
    factory = loop.resolve()
    if loop.lacks(args.api):
        raise UsageError(f"{UNSUPPORTED}{args.api} on {args.loop}: {loop.lacks(args.api)}")
    if args.unix and server.no_unix:
        raise UsageError(f"{UNSUPPORTED}{args.api} on a Unix socket: {server.no_unix}")
    if args.unix and server.on_transports and loop.no_unix_transports:
        gap = loop.no_unix_transports
        raise UsageError(f"{UNSUPPORTED}{args.api} on a Unix socket on {args.loop}: {gap}")
    if args.tls and loop.no_tls:
        raise UsageError(f"{UNSUPPORTED}{args.api} with --tls on {args.loop}: {loop.no_tls}")
    endpoint = Endpoint(path=args.unix) if args.unix else Endpoint(args.host, args.port)
    options = ServerOptions(
        tls=server_context() if args.tls else None,
        compression=None if args.compression == "none" else args.compression,
    )
    module = importlib.import_module(server.module)
    listener = listen(endpoint)
    if hasattr(module, "exec_server"):  # the native server takes over this process
        try:
            module.exec_server(listener, endpoint)
        finally:
            listener.close()
    configure_logging()
    settle_malloc()
    if not os.environ.get(NO_GC_WATCH_ENV):
        gcwatch.start()
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(serve_until_signalled(module, listener, options))
    except NotImplementedError as error:  # the loop lacks what this API needs (rloop: TLS)
        missing = traceback.extract_tb(error.__traceback__)[-1].name
        tls = " with --tls" if args.tls else ""
        raise UsageError(
            f"{UNSUPPORTED}{args.api}{tls} on {args.loop}: the loop does not implement {missing}()"
        ) from None
    finally:
        listener.close()
        if endpoint.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(endpoint.path)
    return 0


def settle_malloc() -> None:
    """Allocate and free one buffer larger than a read, as every long-running server has.

    glibc's malloc serves a request above its mmap threshold (128 KiB at start) with a mapping
    of its own, and raises the threshold only when it frees such a mapping whole. asyncio's
    transports `recv` into a new 256 KiB bytes object and shrink it to what was read, so a
    process that never freed a large mapping pays an mmap, an mremap, a munmap and two page
    faults on every read, for good. Whether a fresh process has freed one depends on its
    start-up: websockets on asyncio answered 24k or 42k req/s by the length of its command
    line (docs/servers.md). Freeing one here puts every server where a running one is.
    """
    bytearray(2 * READ_SIZE)  # freed at once: glibc's threshold rises above a read


def count_python_calls(loop: asyncio.AbstractEventLoop) -> None:
    """Count every Python function call from now on, and print `CALLS <count>` on SIGUSR1.

    For `bench explain` only, on request (COUNT_CALLS_ENV set): the profiling hook makes
    the server several times slower, so no timing is ever taken with it on.
    """
    calls = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(profile)
    on_signal(loop, signal.SIGUSR1, lambda: print(f"CALLS {calls}", flush=True))


def on_signal(loop: asyncio.AbstractEventLoop, signum: int, callback: Callable[[], None]) -> None:
    """Run `callback` on the loop when `signum` arrives: through the loop's own handler, or
    a plain Python one where the loop has none (veloxloop 0.2 does not implement it)."""
    try:
        loop.add_signal_handler(signum, callback)
    except NotImplementedError:
        signal.signal(signum, lambda *_: loop.call_soon_threadsafe(callback))


async def serve_until_signalled(
    module: ModuleType, listener: socket.socket, options: ServerOptions
) -> None:
    """Serve until SIGTERM or SIGINT; leaving `serve()` stops accepting and closes connections."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        on_signal(loop, signum, stop.set)
    if os.environ.get(COUNT_CALLS_ENV):
        count_python_calls(loop)
    # Read the address now: a loop may take the socket over when it starts serving (rloop does).
    ready = f"READY {Endpoint.of_listener(listener)}"
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(None) as deadline, module.serve(listener, options):
            print(ready, flush=True)
            await stop.wait()
            deadline.reschedule(loop.time() + SHUTDOWN_GRACE)
