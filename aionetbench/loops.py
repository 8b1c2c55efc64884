"""Event loop selection: the same two names for servers and clients."""

import asyncio
from collections.abc import Callable

from aionetbench.errors import UsageError

LOOPS = ("asyncio", "uvloop")

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
    raise UsageError(f"unknown loop {name!r}; choose from {', '.join(LOOPS)}")
