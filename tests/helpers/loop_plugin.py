"""A loop that is not in the registry, named on the command line as
`loop_plugin:new_event_loop` (tests/ on PYTHONPATH): tests/test_loops.py runs servers, the
load generator and the orchestrator on it."""

import asyncio
import selectors


class PluginLoop(asyncio.SelectorEventLoop):
    """Stock asyncio on a poll() selector: different enough to be told apart (its servers
    call poll, not epoll_wait), and as correct as asyncio."""

    def __init__(self) -> None:
        super().__init__(selectors.PollSelector())


def new_event_loop() -> asyncio.AbstractEventLoop:
    return PluginLoop()


NOT_A_FACTORY = 42
