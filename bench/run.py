"""Runs one cell once: a fresh pinned server, the load generator pinned apart, then stop both."""

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aionetbench.cpus import spawn_pinned
from aionetbench.endpoints import Endpoint, connect
from aionetbench.errors import UNSUPPORTED
from aionetbench.serverproc import ServerFailed, ServerProcess, server_command
from bench.netns import Hosts
from bench.plan import Cell, Plan

CLIENT_GRACE_S = 30.0  # beyond warm-up and duration, before a silent client is killed
WARM_SETTLE_S = 0.05  # for the server to read the warming connection's EOF


@dataclass(frozen=True)
class Pinning:
    """Where the server and the load generator run: their CPUs and, off loopback, the
    network namespaces of each path (bench.netns), by `Cell.network`."""

    server_cpus: frozenset[int]
    client_cpus: frozenset[int]
    paths: dict[str, Hosts] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"server:{','.join(map(str, sorted(self.server_cpus)))} client:{','.join(map(str, sorted(self.client_cpus)))}"


@dataclass
class Measurement:
    """The client's JSON summary of a good run, plus what only the orchestrator can see."""

    client: dict[str, Any]
    server_peak_rss: int


@dataclass
class Failure:
    reason: str
    stderr_tail: str = ""
    unsupported: bool = False  # the server's loop lacks what its API needs: not a fault


def server_failed(error: ServerFailed) -> Failure:
    message = str(error)
    if UNSUPPORTED in message:
        return Failure(message[message.index(UNSUPPORTED) + len(UNSUPPORTED) :], unsupported=True)
    return Failure(f"server did not start: {message}")


def peak_rss(pid: int) -> int:
    """The process's peak resident set size in bytes (Linux VmHWM), 0 if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def client_command(
    cell: Cell,
    plan: Plan,
    endpoint: Endpoint,
    server_pid: int,
    workers: int,
    rate: float | None = None,
) -> list[str]:
    """The load generator's command: closed loop, or open loop at `rate` for a sweep point."""
    target = ["--unix", endpoint.path] if endpoint.path else ["--connect", str(endpoint)]
    if rate is None:
        timing = ["--pipeline", str(cell.pipeline), "--duration", str(plan.duration),
                  "--warmup", str(plan.warmup)]  # fmt: skip
    else:
        timing = ["--rate", f"{rate:g}", "--arrivals", plan.arrivals,
                  "--duration", str(plan.sweep_duration), "--warmup", str(plan.sweep_warmup)]  # fmt: skip
    return [
        sys.executable, "-m", "clients", cell.protocol, *target,
        *(["--tls"] if cell.transport == "tls" else []),
        "--loop", plan.client_loop,
        "--size", str(cell.size),
        "--concurrency", str(cell.concurrency),
        *timing,
        "--workers", str(min(workers, cell.concurrency)),
        "--server-pid", str(server_pid),
        "--json",
    ]  # fmt: skip


def warm(endpoint: Endpoint, hosts: Hosts | None = None) -> None:
    """Open and close one connection, so the server has read an EOF before it is measured.

    A server process that has never seen a connection close is in a state no long-running
    server stays in. On glibc, asyncio's transports `recv(256 KiB)` into a new bytes object,
    above malloc's mmap threshold, so every read costs an mmap, an mremap and a munmap: until
    the first EOF, whose read frees a whole 256 KiB buffer and makes glibc raise its dynamic
    threshold above that size. Measured here: asyncio `protocol` 47k req/s fresh, 181k after
    one closed connection; `streams` 42k and 95k.
    """
    if hosts is None:
        connect(endpoint, timeout=5).close()
    else:  # only the client's namespace reaches the server
        hosts.connect_once(endpoint)
    time.sleep(WARM_SETTLE_S)


def start_server(
    cell: Cell,
    pinning: Pinning,
    workdir: Path,
    server_python: str = sys.executable,
    env: dict[str, str] | None = None,
) -> ServerProcess | Failure:
    """A fresh server for `cell`, pinned, warmed (see `warm`), started in `workdir` (so each
    interpreter imports the suite it has installed, not whatever checkout the orchestrator
    was started from: that is how `bench ab` runs servers from two environments)."""
    hosts = pinning.paths.get(cell.network)
    if cell.transport == "unix":
        listen = Endpoint(path=str(workdir / "echo.sock"))
    else:
        listen = Endpoint(host=hosts.server_address if hosts else "127.0.0.1", port=0)
    command = server_command(
        cell.api, loop=cell.loop, listen=listen, tls=cell.transport == "tls", python=server_python
    )
    if hosts:
        command = hosts.in_server(command)
    try:
        server = ServerProcess(
            command,
            cpus=pinning.server_cpus,
            stderr_path=workdir / "server.err",
            cwd=workdir,
            env=env,
        )
    except ServerFailed as error:
        return server_failed(error)
    try:
        warm(server.endpoint, hosts)
    except OSError as error:
        server.stop()
        server.kill()
        return Failure(
            f"server did not accept a connection: {error.strerror or error}", server.stderr_tail()
        )
    return server


def measure(
    cell: Cell,
    plan: Plan,
    pinning: Pinning,
    server: ServerProcess,
    workdir: Path,
    rate: float | None = None,
) -> Measurement | Failure:
    """Run the load generator once against a running server. Never raises for a server or
    client fault: returns a Failure."""
    command = client_command(
        cell, plan, server.endpoint, server.pid, len(pinning.client_cpus), rate
    )
    if hosts := pinning.paths.get(cell.network):
        command = hosts.in_client(command)
    timeout = plan.sweep_warmup + plan.sweep_duration if rate else plan.warmup + plan.duration
    client = spawn_pinned(
        command,
        pinning.client_cpus,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=workdir,
    )
    try:
        out, err = client.communicate(timeout=timeout + CLIENT_GRACE_S)
    except subprocess.TimeoutExpired:
        client.kill()
        client.communicate()
        return Failure("client did not finish in time", server.stderr_tail())
    finally:
        if client.poll() is None:  # interrupted: no child may outlive the run
            client.kill()
            client.wait()
    rss = peak_rss(server.pid)
    if server.process.poll() is not None:
        return Failure(f"server died (status {server.process.returncode})", server.stderr_tail())
    if client.returncode == 2 or not out.strip():
        return Failure(
            f"client failed: {err.strip().splitlines()[-1] if err.strip() else 'no output'}",
            server.stderr_tail(),
        )
    summary = json.loads(out)
    if summary["errors"]:
        return Failure(
            f"{summary['errors']} echo errors: {summary['error_messages'][0]}", server.stderr_tail()
        )
    return Measurement(client=summary, server_peak_rss=rss)


def run_cell(
    cell: Cell, plan: Plan, pinning: Pinning, workdir: Path, server_python: str = sys.executable
) -> Measurement | Failure:
    """Measure `cell` once, closed loop, on a fresh server."""
    server = start_server(cell, pinning, workdir, server_python)
    if isinstance(server, Failure):
        return server
    with server:
        return measure(cell, plan, pinning, server, workdir)
