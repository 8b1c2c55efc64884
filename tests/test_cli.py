"""`python -m servers` command line: listing, readiness, and one-line errors with exit 2."""

import asyncio
import json
import socket
from pathlib import Path

import pytest
from helpers.commands import assert_one_line_error, bench, importable, servers_cli
from helpers.peers import WsPeer
from wsproto.events import BytesMessage
from wsproto.extensions import PerMessageDeflate

from aionetbench.endpoints import Endpoint
from servers import SERVERS

pytestmark = pytest.mark.live  # every test here starts servers or the suite's commands


def test_list_names_every_api() -> None:
    result = servers_cli("--list")
    assert result.returncode == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == list(SERVERS)


def test_readiness_line_shows_the_real_port(start_server) -> None:
    server = start_server("protocol")
    assert server.endpoint.port not in (0, 25000)
    with socket.create_connection((server.endpoint.host, server.endpoint.port)):
        pass


def test_ipv6_loopback(start_server) -> None:
    server = start_server("streams", listen=Endpoint(host="::1", port=0))
    assert server.endpoint.host == "::1"
    with socket.create_connection(("::1", server.endpoint.port)) as sock:
        sock.sendall(b"v6")
        assert sock.recv(2) == b"v6"


def test_port_in_use() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = servers_cli("protocol", "--port", str(port))
    assert_one_line_error(result, "cannot listen", str(port), "in use")


def test_unix_socket_of_a_running_server_is_not_stolen(start_server, tmp_path: Path) -> None:
    path = str(tmp_path / "protocol.sock")
    start_server("protocol", transport="unix")
    assert_one_line_error(servers_cli("streams", "--unix", path), "in use")


def test_unwritable_unix_path(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "echo.sock"
    assert_one_line_error(servers_cli("streams", "--unix", str(path)), "cannot listen", str(path))


@pytest.mark.parametrize(
    "args",
    [["nonsense"], ["protocol", "--loop", "trio"], [], ["protocol", "--compression", "deflate"]],
    ids=["unknown-api", "unknown-loop", "no-api", "compression-not-websockets"],
)
def test_bad_arguments(args: list[str]) -> None:
    result = servers_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "usage:" in result.stderr


def test_sockets_refuses_tls() -> None:
    assert_one_line_error(servers_cli("sockets", "--tls"), "sockets --tls", "no TLS")


def test_missing_uvloop(tmp_path: Path) -> None:
    # A real interpreter whose `import uvloop` fails, as on a machine without it.
    (tmp_path / "uvloop.py").write_text("raise ImportError('No module named uvloop')\n")
    env = importable(tmp_path)
    assert_one_line_error(servers_cli("protocol", "--loop", "uvloop", env=env), "uvloop")


@pytest.mark.parametrize(
    ("args", "negotiated"), [([], False), (["--compression", "deflate"], True)]
)
def test_websockets_compression_is_off_unless_asked(start_server, args, negotiated: bool) -> None:
    server = start_server("websockets", extra_args=args)

    async def exchange() -> bool:
        peer = await WsPeer.connect(server.endpoint, extensions=[PerMessageDeflate()])
        await peer.send(BytesMessage(b"z" * 10000))
        assert await peer.receive_message() == b"z" * 10000
        peer.abort()
        return bool(peer.accepted and peer.accepted.extensions)

    assert asyncio.run(asyncio.wait_for(exchange(), 10)) is negotiated


def test_what_a_loop_or_library_lacks_is_unsupported_in_one_line(tmp_path: Path) -> None:
    result = servers_cli("protocol", "--loop", "rloop", "--tls", "--port", "0")
    assert_one_line_error(result, "unsupported: protocol with --tls on rloop", "create_server")
    result = servers_cli("streams", "--loop", "rloop", "--unix", str(tmp_path / "s.sock"))
    assert_one_line_error(result, "unsupported: streams on a Unix socket on rloop")
    result = servers_cli("picows", "--unix", str(tmp_path / "p.sock"))
    assert_one_line_error(result, "unsupported: picows on a Unix socket", "TCP options")


def test_unsupported_cells_are_recorded_not_failed(tmp_path: Path) -> None:
    output = tmp_path / "tls.json"
    result = bench("run", "--apis", "protocol", "--loops", "asyncio,rloop", "--transport", "tls",
                   "--repeats", "1", "--duration", "0.3", "--warmup", "0.1", "--rates", "none",
                   "--quiet", "-o", str(output))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "UNSUPPORTED tls/protocol/rloop/1024B/c10" in result.stderr
    section = json.loads(output.read_text())["aionetbench"]
    assert section["failed"] == []
    assert [u["cell"] for u in section["unsupported"]] == ["tls/protocol/rloop/1024B/c10"]
