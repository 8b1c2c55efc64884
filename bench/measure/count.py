"""`bench count`: user-space instructions per request, counted by valgrind (callgrind).

Instruction counts do not care how busy the machine is: the same binary, inputs and
environment give the same count, so a CI gate can use a 1% threshold where wall-clock
figures need 20-30%. The server runs under callgrind while a blocking client makes exactly
N requests, one at a time on one connection; start-up and shutdown are removed by counting
N and 2N requests and dividing the difference by N.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aionetbench.endpoints import Endpoint
from aionetbench.errors import UsageError
from aionetbench.serverproc import ServerFailed, ServerProcess, server_command
from bench.store.writer import record_counts
from clients.workload import as_line
from clients.wsframes import HandshakeError, blocking_handshake, client_frame, server_frame
from servers import framing_of

VALGRIND_READY_TIMEOUT = 120.0  # Python starts about 50x slower under callgrind
ECHO_TIMEOUT_S = 60.0  # for one echo under callgrind
TOTALS = re.compile(rb"^totals:\s+(\d+)", re.MULTILINE)


def echo_exactly(endpoint: Endpoint, api: str, size: int, requests: int) -> None:
    """Make `requests` verified echoes, one in flight, on one connection, in the API's own
    framing (the registry's); CountFailed if the server closes, stalls or echoes wrong."""
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    framing = framing_of(api)
    if framing == "ws":
        request, reply = client_frame(payload), server_frame(payload)
    else:
        request = reply = as_line(payload) if framing == "line" else payload
    try:
        with socket.create_connection(
            (endpoint.host, endpoint.port), timeout=ECHO_TIMEOUT_S
        ) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if framing == "ws":
                blocking_handshake(sock, endpoint.host)
            buffer = bytearray(len(reply))
            for done in range(requests):
                when = f"after {done} of {requests} echoes"
                try:
                    sock.sendall(request)
                    receive_exactly(sock, buffer, when)
                except (ConnectionResetError, BrokenPipeError):
                    raise CountFailed(f"the server closed the connection {when}") from None
                if buffer != reply:
                    raise CountFailed("the server under valgrind echoed something else")
    except HandshakeError as error:
        raise CountFailed(f"the server refused the WebSocket handshake: {error}") from None
    except TimeoutError:
        raise CountFailed(
            f"the server under valgrind did not answer within {ECHO_TIMEOUT_S:g} s"
        ) from None
    except OSError as error:
        raise CountFailed(
            f"the connection to the server failed: {error.strerror or error}"
        ) from None


def receive_exactly(sock: socket.socket, buffer: bytearray, when: str) -> None:
    """Fill `buffer` from `sock`; CountFailed if the server closes first."""
    view, received = memoryview(buffer), 0
    while received < len(buffer):
        count = sock.recv_into(view[received:])
        if not count:
            raise CountFailed(f"the server closed the connection {when}")
        received += count


class CountFailed(Exception):
    """The server under valgrind did not start, echo, or exit cleanly."""


def instructions(api: str, loop: str, size: int, requests: int, workdir: Path, python: str) -> int:
    """User-space instructions of one server process from its READY line to its exit, while
    it serves `requests` echoes. Start-up runs uninstrumented (three times faster under
    callgrind) where `callgrind_control` can switch instrumentation on once it is ready."""
    out = workdir / f"callgrind.{requests}.out"
    late_start = shutil.which("callgrind_control") is not None
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        *(["--instr-atstart=no"] if late_start else []),
        *server_command(api, loop=loop, python=python),
    ]
    # A fixed hash seed keeps dict and set layouts, and so instruction counts, identical.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    try:
        with ServerProcess(
            command,
            stderr_path=workdir / f"valgrind.{requests}.err",
            ready_timeout=VALGRIND_READY_TIMEOUT,
            env=env,
            cwd=workdir,
        ) as server:
            if late_start:
                instrument(server.pid)
            echo_exactly(server.endpoint, api, size, requests)
            status, _ = server.stop(signal.SIGTERM, timeout=60)
    except (ServerFailed, OSError) as error:
        raise CountFailed(f"{api}/{loop} under valgrind: {error}") from None
    if status != 0 or not out.exists():
        raise CountFailed(f"{api}/{loop} under valgrind exited {status}: {server.stderr_tail()}")
    match = TOTALS.search(out.read_bytes())
    if match is None:
        raise CountFailed(f"no totals line in {out}")
    return int(match.group(1))


def instrument(pid: int) -> None:
    """Switch callgrind's instrumentation on in a running server."""
    result = subprocess.run(
        ["callgrind_control", "--instr=on", str(pid)], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        why = (result.stderr or result.stdout).strip().splitlines()
        raise CountFailed(
            f"callgrind_control could not instrument {pid}: {why[-1] if why else result.returncode}"
        )


def instructions_per_request(
    api: str, loop: str, size: int, requests: int, workdir: Path, python: str = sys.executable
) -> float:
    """(instructions for 2N requests - for N) / N: start-up and shutdown cancel out. The two
    servers run at the same time: an instruction count does not depend on timing, and
    Python starts about 50x slower under callgrind, so this halves the wait."""
    if shutil.which("valgrind") is None:
        raise UsageError("valgrind is not installed (apt-get install valgrind)")
    with ThreadPoolExecutor(max_workers=2) as pool:
        small, large = pool.map(
            lambda n: instructions(api, loop, size, n, workdir, python), (requests, 2 * requests)
        )
    return (large - small) / requests


def count_api(
    api: str, loop: str, size: int, requests: int, repeats: int, python: str, output: Path | None
) -> list[float]:
    """Count `repeats` times, report each on stderr, and record them in `output` if given."""
    name = f"count/{api}/{loop}/{size}B"
    counts = []
    with tempfile.TemporaryDirectory(prefix="aionetbench-count-") as workdir:
        for repeat in range(1, repeats + 1):
            counts.append(
                instructions_per_request(api, loop, size, requests, Path(workdir), python)
            )
            print(
                f"{name}: repeat {repeat}: {counts[-1]:,.1f} instructions per request",
                file=sys.stderr,
            )
    if output:
        metadata = {
            "metric": "instructions per request",
            "api": api,
            "server_loop": loop,
            "size": size,
        }
        record_counts(output, name, counts, metadata)
    return counts


def count_into(results: Path, apis: tuple[tuple[str, str], ...], python: str) -> None:
    """Add 1 KiB instruction counts (N = 500, 2 repeats) for each (API, loop) to a results file."""
    for api, loop in apis:
        count_api(api, loop, 1024, 500, 2, python, results)
