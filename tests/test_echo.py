"""Byte-exact echo on every API x loop x transport, over many concurrent connections."""

import asyncio
import os

import pytest
from helpers.matrix import API_LOOPS, TLS_API_LOOPS, UNIX_API_LOOPS
from helpers.peers import echo_exact

from aionetbench.endpoints import Endpoint

pytestmark = pytest.mark.live  # every test here starts servers or the suite's commands

SIZES = (1, 1024, 64 * 1024)
LARGE = 1024 * 1024  # echoed by every LARGE_EVERY-th connection, while the others run
LARGE_EVERY = 10
CONNECTIONS = 50


async def echo_many(api: str, endpoint: Endpoint, tls: bool = False) -> None:
    """CONNECTIONS concurrent connections, each echoing fresh random payloads of every size,
    and one in ten a 1 MiB one too: large messages among many connections, at a sixth of
    the bytes of a 1 MiB echo on every connection (the suite runs this ~100 times)."""
    payloads = [
        [os.urandom(size) for size in (*SIZES, *((LARGE,) if i % LARGE_EVERY == 0 else ()))]
        for i in range(CONNECTIONS)
    ]
    echoes = (echo_exact(api, endpoint, p, tls) for p in payloads)
    await asyncio.wait_for(asyncio.gather(*echoes), 60)


@pytest.mark.parametrize(("api", "loop"), API_LOOPS)
def test_echo_is_byte_exact(start_server, api: str, loop: str) -> None:
    server = start_server(api, loop)
    asyncio.run(echo_many(api, server.endpoint))


@pytest.mark.parametrize(("api", "loop"), UNIX_API_LOOPS)
def test_echo_over_unix_sockets(start_server, api: str, loop: str) -> None:
    server = start_server(api, loop, "unix")
    asyncio.run(echo_many(api, server.endpoint))


@pytest.mark.parametrize(("api", "loop"), TLS_API_LOOPS)
def test_tls_echo(start_server, api: str, loop: str) -> None:
    server = start_server(api, loop, "tls")
    asyncio.run(echo_many(api, server.endpoint, tls=True))
