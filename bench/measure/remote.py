"""One cell on other hosts: the server on one, load generators on one or more, over SSH.

Every client host runs native `load` workers (one per CPU it gives the load, at most its
share of connections), each with its share of the connections and, open loop, of the rate:
independent Poisson streams at rate x share add up to one at the whole rate. They connect,
wait at a barrier, and are released together; each records latency on its own clock, so no
clock has to agree across hosts. Their windows merge exactly as one host's workers' do
(clients.result). The server's CPU is read by its watchdog at the window's start and end as
the orchestrator times them (within an SSH round trip of the load generators' own window).
"""

import json
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aionetbench.endpoints import Endpoint
from aionetbench.errors import UsageError
from aionetbench.serverproc import ServerFailed, ServerProcess, server_command
from bench.hosts.address import HostAddress
from bench.hosts.check import HostReport, orchestrator_commit, probe
from bench.hosts.ssh import REMOTE_PYTHON, Host, HostError, RemoteProcess, SshLoop
from bench.plan.cells import Cell
from bench.store.schema import Failure, GcPauses, Measurement
from clients.judgement import why_failed
from clients.native.workers import release, windows, worker_command
from clients.result import summarize
from clients.spec import LoadSpec
from clients.summary import Summary
from clients.window import ServerUsage, WorkerFailed, split, worker_loads
from servers import SERVERS

REMOTE_LOAD = "clients/native/load"
MAX_WORKERS_PER_HOST = 8  # sshd's default MaxSessions is 10 per connection

HostLoad = tuple[Host, LoadSpec, list[RemoteProcess]]  # a client host, its share, its workers


@dataclass
class Lab:
    """The hosts of a run, probed: the server's and the load generators'."""

    server: Host
    clients: list[Host]
    reports: dict[str, HostReport]
    server_address: str  # where the load generators reach the server
    server_cpu_count: int = 1  # --server-cpus: split on every host as on this one

    def server_cpus(self) -> set[int]:
        return set(self.reports[str(self.server)].cpus[: self.server_cpu_count])

    def client_cpus(self, host: Host) -> set[int]:
        """The host's CPUs after the server's share (the same split on every host, so a host
        that is also the server host keeps them apart)."""
        return set(self.reports[str(host)].cpus[self.server_cpu_count :])

    def pinning(self) -> str:
        """Where the server and each load generator ran, as results record pinning."""
        clients = " ".join(f"{host}:{listed(self.client_cpus(host))}" for host in self.clients)
        return f"server:{self.server}:{listed(self.server_cpus())} client:{clients}"

    def about_server(self) -> dict[str, Any]:
        """The server host's Python as `servers --about` describes one (the results'
        environment is the server's)."""
        about = dict(self.reports[str(self.server)].probe["about"])
        return about | {"python_executable": f"{self.server}:{about['python_executable']}"}

    def metadata(self) -> dict[str, Any]:
        return {
            "server_host": str(self.server),
            "client_hosts": ",".join(map(str, self.clients)),
            "hosts": json.dumps([report.description() for report in self.reports.values()]),
        }


def listed(cpus: set[int]) -> str:
    return ",".join(map(str, sorted(cpus)))


def open_lab(server: str, clients: list[str], directory: str, server_cpus: int = 1) -> Lab:
    """Connect to every host and probe it; UsageError (one line) if any cannot run its part,
    before anything runs."""
    ssh = SshLoop()
    hosts: dict[str, Host] = {}
    for text in [server, *clients]:
        address = HostAddress.parse(text)
        hosts.setdefault(str(address), Host(address, directory, ssh))
    server_host = hosts[str(HostAddress.parse(server))]
    client_hosts = [hosts[str(HostAddress.parse(text))] for text in clients]
    if len(set(map(id, client_hosts))) < len(client_hosts):
        raise UsageError("a --client-host is given twice: each host is one load generator")
    server_address = resolved(server_host)
    commit = orchestrator_commit()
    reports = {}
    for name, host in hosts.items():
        # The MTU each host reports is its interface's towards the other side.
        peer = resolved(client_hosts[0]) if host is server_host else server_address
        report = reports[name] = probe(host, peer=peer)
        role = "any" if host is server_host and host in client_hosts else (
            "server" if host is server_host else "client")  # fmt: skip
        if problems := report.problems(role, commit):
            raise HostError(f"{name}: cannot run its part: {'; '.join(problems)}")
    lab = Lab(server_host, client_hosts, reports, server_address, server_cpus)
    for host in {id(h): h for h in [server_host, *client_hosts]}.values():
        if not (lab.server_cpus() if host is server_host else lab.client_cpus(host)):
            raise HostError(f"{host}: too few CPUs for --server-cpus {server_cpus}")
    return lab


def resolved(host: Host) -> str:
    """The host's address as this machine resolves it (the first one)."""
    try:
        found = socket.getaddrinfo(host.address.host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise HostError(f"{host}: unknown host ({error.strerror})") from None
    return str(found[0][4][0])


def start_remote_server(cell: Cell, lab: Lab, workdir: Path) -> ServerProcess | Failure:
    """A fresh server for `cell` on the server host, pinned, warmed from its own host."""
    if cell.transport != "tcp":
        return Failure(f"{cell.transport} is not measured across hosts", unsupported=True)
    listen = Endpoint(host=lab.server_address, port=0)
    command = server_command(cell.api, loop=cell.loop, listen=listen, python=REMOTE_PYTHON)

    def spawn(argv: list[str], cpus: set[int], **popen: Any) -> RemoteProcess:
        return lab.server.start(argv, cpus, Path(popen["stderr"].name), warm=True)

    try:
        return ServerProcess(command, cpus=lab.server_cpus(), stderr_path=workdir / "server.err",
                             spawn=spawn)  # fmt: skip
    except HostError as error:
        return Failure(str(error))
    except ServerFailed as error:
        if lab.server.connection is None or lab.server.connection.is_closed():
            return Failure(f"ssh connection to {lab.server} lost as the server started")
        return Failure(f"server did not start: {error}")


def host_specs(spec: LoadSpec, lab: Lab) -> list[tuple[Host, LoadSpec, int]]:
    """Each client host's share of the load, and the index of its first connection."""
    shares = split(spec.concurrency, len(lab.clients))
    specs = []
    for i, (host, share) in enumerate(zip(lab.clients, shares, strict=True)):
        if share == 0:
            continue
        workers = min(len(lab.client_cpus(host)), share, MAX_WORKERS_PER_HOST)
        rate = spec.rate * share / spec.concurrency if spec.rate else None
        specs.append((host, replace(spec, concurrency=share, rate=rate, workers=workers),
                      sum(shares[:i])))  # fmt: skip
    return specs


def start_load(spec: LoadSpec, lab: Lab, workdir: Path) -> list[HostLoad]:
    """Every client host's native workers for one measurement, started (not yet released)."""
    started: list[HostLoad] = []
    try:
        for host, host_spec, offset in host_specs(spec, lab):
            workers: list[RemoteProcess] = []
            started.append((host, host_spec, workers))
            for number, (connections, first, rate) in enumerate(worker_loads(host_spec)):
                argv = worker_command(host_spec, connections, offset + first, rate, REMOTE_LOAD)
                stderr = workdir / f"client-{host.address.host}-{number}.err"
                workers.append(host.start(argv, lab.client_cpus(host), stderr))
    except BaseException:
        stop_load(started)
        raise
    return started


def stop_load(load: list[HostLoad]) -> None:
    """End every worker still running (their watchdogs kill them) and close the pipes."""
    for _, _, workers in load:
        for worker in workers:
            worker.kill()
            worker.stdin.close()
            worker.stdout.close()


def server_usage(before: dict | None, after: dict | None) -> tuple[ServerUsage | None, list[int]]:
    """The server's usage between two of its watchdog's readings, and their times on its
    host's clock (to place its GC pauses in the window)."""
    if not before or not after or "user_s" not in before or "user_s" not in after:
        return None, []
    keys = ("user_s", "system_s", "voluntary", "involuntary", "run_delay_s")
    usage = ServerUsage(**{k: after[k] for k in keys}) - ServerUsage(**{k: before[k] for k in keys})
    return usage, [before["monotonic_ns"], after["monotonic_ns"]]


def any_host(merged: Summary, hosts: list[Summary]) -> Summary:
    """The merged summary, client-limited or stalled if any host was."""
    if merged.schedule is None:
        return replace(merged, client_bound=any(h.client_bound for h in hosts))
    schedule = replace(
        merged.schedule,
        fell_behind=any(h.schedule.fell_behind for h in hosts if h.schedule),
        client_stalled=any(h.schedule.client_stalled for h in hosts if h.schedule),
    )
    return replace(merged, schedule=schedule, client_bound=any(h.client_bound for h in hosts))


def measure_remote(
    cell: Cell, lab: Lab, server: ServerProcess, spec: LoadSpec, workdir: Path
) -> Measurement | Failure:
    """Run the load from every client host once against the running remote server."""
    process: RemoteProcess = server.process  # type: ignore[assignment]
    spec = replace(spec, server_pid=None, p99_within=None, max_duration=None)
    watch_gc = SERVERS[cell.api].runs_python
    try:
        load = start_load(spec, lab, workdir)
    except HostError as error:
        return Failure(str(error), server.stderr_tail())
    workers = [worker for _, _, host_workers in load for worker in host_workers]
    try:
        release(
            workers, spec.connect_s
        )  # the barrier across every host, as across one host's workers
        if watch_gc:
            server.gc_report()  # from here on
        time.sleep(spec.warmup)
        before = process.usage()
        time.sleep(spec.duration)
        after = process.usage()
        every = windows(spec, workers)
    except (WorkerFailed, UsageError) as error:
        lost = next((w.host for w in [process, *workers] if w.lost), None)
        return Failure(f"ssh connection to {lost} lost" if lost else f"client failed: {error}",
                       server.stderr_tail())  # fmt: skip
    finally:
        stop_load(load)
    if process.poll() is not None:
        reason = f"ssh connection to {lab.server} lost" if process.lost else (
            f"server died (status {process.returncode})")  # fmt: skip
        return Failure(reason, server.stderr_tail())
    counts = [len(host_workers) for _, _, host_workers in load]
    starts = [sum(counts[:i]) for i in range(len(counts))]
    hosts = [summarize(host_spec, every[start : start + count], "native")
             for (_, host_spec, _), start, count in zip(load, starts, counts, strict=True)]  # fmt: skip
    usage, window_ns = server_usage(before, after)
    if usage is not None:
        every[0].server = usage  # where summarize reads the server's usage from
    summary = any_host(summarize(spec, every, "native"), hosts)
    summary = replace(summary, window_ns=window_ns)
    if reason := why_failed(summary):
        return Failure(reason, server.stderr_tail())
    report = server.gc_report() if watch_gc else None
    gc = GcPauses.of(report, window_ns) if report and window_ns else None
    parts = [{"host": str(host), **host_figures(part)}
             for (host, _, _), part in zip(load, hosts, strict=True)]  # fmt: skip
    return Measurement(summary, (after or {}).get("peak_rss", 0), gc, hosts=parts)


def host_figures(summary: Summary) -> dict[str, Any]:
    """What each client host's own part says: its rate, CPU, lag and flags."""
    figures: dict[str, Any] = {
        "connections": summary.concurrency,
        "workers": summary.workers,
        "rps": summary.rps,
        "client_cpu": summary.client_cpu,
        "p99_us": summary.latency.p99,
        "client_bound": summary.client_bound,
        "histogram": summary.latency.histogram,  # theirs add up to the cell's exactly
    }
    if summary.schedule is not None:
        figures |= {
            "lag_p99_us": summary.schedule.lag_p99_us,
            "fell_behind": summary.schedule.fell_behind,
            "client_stalled": summary.schedule.client_stalled,
        }
    return figures
