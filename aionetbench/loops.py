"""Event loop selection: the same names for servers and clients."""

import asyncio
from collections.abc import Callable

from aionetbench.errors import UsageError

LOOPS = ("asyncio", "uvloop", "rloop")

# Loops whose transports cannot serve a Unix socket and do not say so (found by the
# conformance tests): servers built on transports exit 2 as unsupported there instead of
# failing their clients silently. The sock_* API does its own accepting and works.
NO_UNIX_TRANSPORTS = {
    "rloop": "create_server() on a Unix socket: rloop accepts the connections and closes them at once",
}

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory(name: str) -> LoopFactory:
    """Return a factory for the named loop, for `asyncio.Runner(loop_factory=...)`."""
    if name == "asyncio":
        return asyncio.new_event_loop
    if name == "uvloop":
        try:
            import uvloop
        except ImportError as error:
            raise UsageError(f"uvloop is not importable ({error}); pip install uvloop") from None
        return uvloop.new_event_loop
    if name == "rloop":
        try:
            import rloop
        except ImportError as error:
            raise UsageError(f"rloop is not importable ({error}); pip install rloop") from None
        return rloop.new_event_loop
    raise UsageError(f"unknown loop {name!r}; choose from {', '.join(LOOPS)}")
