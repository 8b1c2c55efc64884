"""Every server reads without a page fault per message on asyncio, fresh and never warmed:
asyncio's transports `recv` into a new 256 KiB bytes object, and a process whose glibc mmap
threshold is still at its start value maps, faults in and unmaps every one
(servers.cli.settle_malloc). Counted over many echoes, so a mechanism, not a timing."""

from pathlib import Path

import pytest
from helpers.commands import NATIVE, NEEDS_NATIVE, client_json

from aionetbench.procstat import usage
from aionetbench.serverproc import ServerProcess, server_command
from servers import SERVERS, framing_of

CANDIDATES = [name for name, server in SERVERS.items() if server.runs_python]
MESSAGES = 5000
# Ten connections' handshakes, buffers and lazy imports fault several hundred pages at
# first; a server that maps every read faults twice per message.
MAX_FAULTS_PER_MESSAGE = 0.5


@pytest.mark.live
@NEEDS_NATIVE
@pytest.mark.parametrize("long_command_line", [False, True], ids=["short", "long"])
@pytest.mark.parametrize("api", CANDIDATES)
def test_a_fresh_asyncio_server_faults_no_page_per_message(
    api: str, long_command_line: bool, tmp_path: Path
) -> None:
    # The command line's length moved websockets' start-up between the two states of glibc.
    extra = ("--loop", "asyncio") if long_command_line else ()
    command = server_command(api, loop="asyncio", extra_args=extra)
    with ServerProcess(command, stderr_path=tmp_path / "server.err") as server:
        before = usage(server.pid)["minor_faults"]
        summary = client_json(
            server.endpoint,
            "--requests", str(MESSAGES),
            protocol=framing_of(api), program=NATIVE,
        )  # fmt: skip
        faults = usage(server.pid)["minor_faults"] - before
    assert summary["errors"] == 0 and summary["requests"] == MESSAGES, summary
    assert faults / MESSAGES < MAX_FAULTS_PER_MESSAGE, f"{api}: {faults} page faults"
