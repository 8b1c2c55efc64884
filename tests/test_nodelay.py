"""Every server variant turns Nagle's algorithm off on its TCP connections, on every loop: a
server left with it on holds each small reply until the previous one is acknowledged, and the
client's delayed ACK makes that milliseconds (asyncio's transports set TCP_NODELAY only on a
socket whose protocol number says TCP: aionetbench.endpoints.listen)."""

import socket
from pathlib import Path

import pytest
from helpers.sockets import peer_socket_option

from aionetbench.serverproc import ServerProcess, server_command
from servers import SERVERS

CANDIDATES = [name for name, server in SERVERS.items() if not server.reference]


@pytest.mark.live
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("api", CANDIDATES)
def test_every_server_disables_nagle_on_its_connections(
    api: str, loop: str, tmp_path: Path
) -> None:
    command = server_command(api, loop=loop)
    with (
        ServerProcess(command, stderr_path=tmp_path / "server.err") as server,
        socket.create_connection((server.endpoint.host, server.endpoint.port)) as client,
    ):
        peer, option = client.getsockname(), socket.TCP_NODELAY
        nodelay = peer_socket_option(server.pid, peer, socket.IPPROTO_TCP, option)
    assert nodelay == 1, f"{api} on {loop}: TCP_NODELAY is {nodelay}"
