"""Runs one cell once: a fresh pinned server, the load generator pinned apart, then stop both."""

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aionetbench.endpoints import WARM_SETTLE_S, Endpoint
from aionetbench.endpoints import warm as warm_server
from aionetbench.errors import UNSUPPORTED
from aionetbench.procstat import peak_rss, rss
from aionetbench.serverproc import ServerFailed, ServerProcess, server_command
from aionetbench.threads import Thread, ran_on, snapshot
from bench.measure.drive import LoadFailed, drive
from bench.measure.netns import Hosts
from bench.measure.tracing import WakeupTrace
from bench.plan.cells import Cell
from bench.plan.profiles import Plan
from bench.store.schema import Failure, GcPauses, Measurement
from clients.contract import Clients, python_generator
from clients.judgement import UNRELIABLE_HALF_WIDTH, why_failed
from clients.spec import DRAIN_S, LoadSpec
from clients.summary import Summary
from servers import SERVERS

# Open-loop churn: connections the load generator may hold open at once. An arrival finding
# them all busy waits, and that wait is the load generator's: with the cell's ten, protocol on
# asyncio was client-limited from 14,000 conn/s on, at 0.4 ms a connection.
CHURN_OPEN_SLOTS = 256

if TYPE_CHECKING:  # asyncssh is loaded only by runs across hosts
    from bench.measure.remote import Lab


@dataclass(frozen=True)
class Pinning:
    """Where the server and the load generator run: their CPUs and, off loopback, the
    network namespaces of each path (bench.measure.netns), by `Cell.network`; and which
    load generators drive the server (any that keep clients.spec and clients.summary), by load."""

    server_cpus: frozenset[int]
    client_cpus: frozenset[int]
    paths: dict[str, Hosts] = field(default_factory=dict)
    clients: Clients = field(
        default_factory=lambda: Clients(python_generator(), python_generator())
    )
    lab: "Lab | None" = None  # other hosts, over SSH: then the CPUs above are not used

    def __str__(self) -> str:
        if self.lab is not None:
            return self.lab.pinning()
        return f"server:{','.join(map(str, sorted(self.server_cpus)))} client:{','.join(map(str, sorted(self.client_cpus)))}"


def server_failed(error: ServerFailed) -> Failure:
    message = str(error)
    if UNSUPPORTED in message:
        return Failure(message[message.index(UNSUPPORTED) + len(UNSUPPORTED) :], unsupported=True)
    return Failure(f"server did not start: {message}")


def load_spec(
    cell: Cell,
    plan: Plan,
    endpoint: Endpoint,
    server_pid: int,
    workers: int,
    rate: float | None = None,
) -> LoadSpec:
    """The load for `cell`: closed loop, or open loop at `rate` for a sweep point."""
    timing = (
        {"duration": plan.duration, "warmup": plan.warmup}
        if rate is None
        else {
            "duration": plan.sweep_duration,
            "warmup": plan.sweep_warmup,
            # Stragglers are waited for no longer than a slice lasts: what is still in
            # flight by then counts with its latency so far anyway.
            "drain": min(DRAIN_S, plan.sweep_duration),
            **(
                {"p99_within": UNRELIABLE_HALF_WIDTH, "max_duration": plan.sweep_cap}
                if plan.sweep_cap > plan.sweep_duration
                else {}
            ),
        }
    )
    return LoadSpec(
        protocol=cell.protocol,
        endpoint=endpoint,
        tls=cell.transport == "tls",
        loop=plan.client_loop,
        size=cell.size,
        concurrency=max(cell.concurrency, CHURN_OPEN_SLOTS)
        if cell.churn and rate
        else cell.concurrency,
        pipeline=cell.pipeline,
        churn=cell.churn or None,
        idle=cell.idle or None,
        slow_readers=cell.slow or None,
        rate=rate or cell.at_rate or None,
        arrivals=plan.arrivals,
        workers=min(workers, cell.concurrency),
        server_pid=server_pid,
        **timing,
    )


def warm(endpoint: Endpoint, hosts: Hosts | None = None) -> None:
    """Warm a fresh server (aionetbench.endpoints.warm), from the client's namespace when
    it is in one: only that namespace reaches the server."""
    if hosts is None:
        warm_server(endpoint)
    else:
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
    if pinning.lab is not None:
        from bench.measure.remote import start_remote_server

        return start_remote_server(cell, pinning.lab, workdir)
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
    except BaseException:  # Ctrl-C or SIGTERM while warming: no server may outlive the run
        server.kill()
        raise
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
    spec = load_spec(cell, plan, server.endpoint, server.pid, len(pinning.client_cpus), rate)
    if pinning.lab is not None:
        from bench.measure.remote import measure_remote

        return measure_remote(cell, pinning.lab, server, spec, workdir)
    hosts = pinning.paths.get(cell.network)
    watch_gc = SERVERS[cell.api].runs_python
    if watch_gc:
        server.gc_report()  # from here on
    before, started, rss_before = snapshot(), time.monotonic(), rss(server.pid)
    with WakeupTrace(server.pid, pinning.server_cpus, enabled=spec.rate is not None) as trace:
        try:
            summary: Summary | LoadFailed = drive(
                spec,
                pinning.clients,
                pinning.client_cpus,
                hosts.in_client([]) if hosts else (),
                workdir,
            )
        except LoadFailed as error:
            summary = error
        wakeups = trace.stop(summary.window_ns) if isinstance(summary, Summary) else None
    peak = peak_rss(server.pid)
    if server.process.poll() is not None:
        return Failure(f"server died (status {server.process.returncode})", server.stderr_tail())
    if isinstance(summary, LoadFailed):
        return Failure(str(summary), server.stderr_tail())
    if reason := why_failed(summary):
        return Failure(reason, server.stderr_tail())
    others = others_on(pinning, before, server.pid)
    report = server.gc_report() if watch_gc else None
    gc = GcPauses.of(report, summary.window_ns) if report else None
    return Measurement(client=summary, server_peak_rss=peak, gc=gc, others=others,
                       others_span_s=time.monotonic() - started, wakeups=wakeups,
                       server_rss_before=rss_before)  # fmt: skip


OTHERS_NAMED = 8  # at most, the longest first


def others_on(
    pinning: Pinning, before: dict[int, Thread], server_pid: int
) -> list[tuple[str, str, float]]:
    """The other threads that ran on the server's and the load generator's CPUs since
    `before`: what may have made them wait, by name."""
    cpus = set(pinning.server_cpus | pinning.client_cpus)
    ran = ran_on(before, snapshot(), cpus, {server_pid, os.getpid()})
    return [(r.name, "server" if r.cpu in pinning.server_cpus else "client", round(r.ms, 1))
            for r in ran[:OTHERS_NAMED]]  # fmt: skip


def run_cell(
    cell: Cell, plan: Plan, pinning: Pinning, workdir: Path, server_python: str = sys.executable
) -> Measurement | Failure:
    """Measure `cell` once, closed loop, on a fresh server."""
    server = start_server(cell, pinning, workdir, server_python)
    if isinstance(server, Failure):
        return server
    with server:
        return measure(cell, plan, pinning, server, workdir)
