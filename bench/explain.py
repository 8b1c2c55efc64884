"""`bench explain`: what each API and loop costs per request, and where it goes.

For each cell, one fresh pinned server, driven in the quick profile's shape (10 connections,
one message in flight each) by the pinned load generator:

- **Exact counts**, from N and then 2N verified echoes, differenced, (C(2N) - C(N)) / N, so
  that connecting, accepting and closing cancel out: system calls by name (perf or strace
  around each run) and, on request, Python function calls (a profiling hook in the server).
  Event-loop passes (the epoll_wait calls) depend on timing, so they are averaged over both
  runs, (C(N) + C(2N)) / 3N, rather than differenced.
- **Times**, from an untraced run (tracing inflates time): server user and system CPU and
  context switches per request over a 1 s window, as the load generator measures them.
- **Memory per connection**: the server's RSS growth while K idle connections are open
  (WebSocket ones after their handshake).
"""

import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from aionetbench.cpus import spawn_pinned
from aionetbench.endpoints import Endpoint, connect
from aionetbench.limits import raise_fd_limit
from aionetbench.serverproc import ServerFailed, ServerProcess
from bench.plan import Cell
from bench.run import Failure, Pinning, start_server
from clients.wsframes import handshake_request, new_key, parse_handshake_response
from servers.cli import COUNT_CALLS_ENV

LOOP_PASSES = ("epoll_wait", "epoll_pwait", "epoll_pwait2")
ATTACH_TIMEOUT = 10.0
IDLE_SETTLE_S = 0.2  # for the server to set up the last idle connections
IDLE_BATCH = 64  # idle connections opened at a time, below asyncio's listen backlog of 100
COUNTER_PACKAGES = "linux-perf or strace"  # the Debian packages that bring a counter


class ExplainFailed(Exception):
    """A server or client run failed; the message says which and why."""


@dataclass
class Explained:
    """One cell's per-request costs (None where the tool or option was missing)."""

    api: str
    loop: str
    requests: int
    syscalls: dict[str, float] | None
    failed_syscalls: dict[str, float] | None
    user_us: float
    system_us: float
    voluntary_switches: float
    involuntary_switches: float
    python_calls: float | None
    rss_per_connection_bytes: float | None
    idle_connections: int
    counter: str | None = None  # what counted the system calls: perf, strace or nothing

    @property
    def loop_passes(self) -> float | None:
        if self.syscalls is None:
            return None
        return sum(self.syscalls.get(name, 0.0) for name in LOOP_PASSES)

    @property
    def cpu_us(self) -> float:
        return self.user_us + self.system_us

    def as_json(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "loop": self.loop,
            "requests": self.requests,
            "per_request": {
                "syscalls": self.syscalls,
                "failed_syscalls": self.failed_syscalls,
                "loop_passes": self.loop_passes,
                "context_switches": {
                    "voluntary": self.voluntary_switches,
                    "involuntary": self.involuntary_switches,
                },
                "user_us": self.user_us,
                "system_us": self.system_us,
                "python_calls": self.python_calls,
            },
            "rss_per_connection_bytes": self.rss_per_connection_bytes,
            "idle_connections": self.idle_connections,
            "counted_with": self.counter,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Explained":
        per = data["per_request"]
        return cls(
            api=data["api"],
            loop=data["loop"],
            requests=data["requests"],
            syscalls=per["syscalls"],
            failed_syscalls=per.get("failed_syscalls"),
            user_us=per["user_us"],
            system_us=per["system_us"],
            voluntary_switches=per["context_switches"]["voluntary"],
            involuntary_switches=per["context_switches"]["involuntary"],
            python_calls=per["python_calls"],
            rss_per_connection_bytes=data["rss_per_connection_bytes"],
            idle_connections=data.get("idle_connections", 0),
            counter=data.get("counted_with"),
        )


def parse_strace_summary(text: str) -> tuple[dict[str, int], dict[str, int]]:
    """Calls and errors by system call name from `strace -c` output."""
    calls: dict[str, int] = {}
    errors: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split()
        # "% time  seconds  usecs/call  calls  [errors]  syscall"
        if len(fields) in (5, 6) and re.fullmatch(r"[\d.]+", fields[0]) and fields[-1] != "total":
            calls[fields[-1]] = int(fields[3])
            if len(fields) == 6:
                errors[fields[-1]] = int(fields[4])
    return calls, errors


def differenced(once: dict[str, float], twice: dict[str, float], n: int) -> dict[str, float]:
    """(C(2N) - C(N)) / N per key, rounded so noise-free counts stay readable; keys that
    cancel out to nothing are left out."""
    names = sorted(set(once) | set(twice))
    per = {name: (twice.get(name, 0) - once.get(name, 0)) / n for name in names}
    return {name: round(value, 4) for name, value in per.items() if abs(value) >= 0.0005}


@contextmanager
def strace_attached(pid: int, output: Path) -> Iterator[None]:
    """strace -c -f attached to `pid` for the duration of the block; the summary goes to
    `output` when it detaches."""
    tracer = subprocess.Popen(
        ["strace", "-c", "-f", "-p", str(pid), "-o", str(output)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + ATTACH_TIMEOUT
        while True:
            timeout = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([tracer.stderr], [], [], timeout)
            line = tracer.stderr.readline() if ready else ""  # type: ignore[union-attr]
            if "attached" in line:
                break
            if not ready or not line:
                why = line.strip() or "timed out"
                raise ExplainFailed(f"strace could not attach to {pid}: {why}")
        yield
    finally:
        stop(tracer)


# The system calls counted by name with perf (the others are counted together, as "other"):
# every call an echo server makes per request on the loops here, and those of the fresh
# process state `bench.run.warm` avoids. perf counts them in the kernel, one filtered
# instance of the raw_syscalls:sys_enter tracepoint each: cheap to set up and to run. (perf
# stat over the ~360 syscalls:sys_enter_* tracepoints takes 13 s to set up on this
# machine's kernel; `perf trace` writes every call to a buffer, which slows the server
# enough to change how often `sock_*` has to wait and register.)
COUNTED_CALLS = (
    "read", "write", "readv", "writev", "recvfrom", "sendto", "recvmsg", "sendmsg",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl", "poll", "ppoll", "select",
    "ioctl", "fcntl", "accept4", "close", "shutdown", "setsockopt", "getsockopt",
    "mmap", "munmap", "mremap", "brk", "madvise", "futex", "membarrier", "getpid",
    "rt_sigprocmask", "sched_yield", "getrandom", "eventfd2", "io_uring_enter",
)  # fmt: skip
OTHER = "other"
SYSCALL_HEADERS = (  # where the kernel's system call numbers are (Debian's linux-libc-dev)
    "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
    "/usr/include/aarch64-linux-gnu/asm/unistd.h",
    "/usr/include/asm-generic/unistd.h",
)


def syscall_numbers() -> dict[str, int]:
    """System call name -> number, from the kernel headers ({} without them)."""
    for header in map(Path, SYSCALL_HEADERS):
        if header.exists():
            found = re.findall(r"#define __NR_(\w+)\s+(\d+)\b", header.read_text())
            return {name: int(number) for name, number in found}
    return {}


def perf_events(numbers: dict[str, int]) -> tuple[list[str], list[str]]:
    """perf stat arguments: one filtered raw_syscalls:sys_enter per counted call, then an
    unfiltered one (the total); and the names of the counts in the order perf prints them."""
    names = [name for name in COUNTED_CALLS if name in numbers]
    arguments: list[str] = []
    for name in names:
        arguments += ["-e", "raw_syscalls:sys_enter", "--filter", f"id == {numbers[name]}"]
    return [*arguments, "-e", "raw_syscalls:sys_enter"], [*names, OTHER]


@contextmanager
def perf_counting(pid: int, output: Path, events: list[str]) -> Iterator[None]:
    """perf stat counting `pid`'s system calls with `events` (from `perf_events`), enabled
    exactly for the duration of the block (perf's control FIFO acknowledges each switch)."""
    control, ack = output.with_name(output.name + ".ctl"), output.with_name(output.name + ".ack")
    os.mkfifo(control)
    os.mkfifo(ack)
    counter = subprocess.Popen(
        ["perf", "stat", *events, "-p", str(pid), "-x,", "-o", str(output),
         "--control", f"fifo:{control},{ack}", "-D", "-1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with open(control, "w") as commands, open(ack) as answers:

            def switch(state: str) -> None:
                commands.write(f"{state}\n")
                commands.flush()
                ready, _, _ = select.select([answers], [], [], ATTACH_TIMEOUT)
                if not ready or "ack" not in answers.readline():
                    raise ExplainFailed(f"perf did not {state} counting for {pid}")

            switch("enable")
            yield
            switch("disable")
    finally:
        stop(counter)


def stop(tool: subprocess.Popen) -> None:
    """Stop a tracer or counter the way that makes it write its summary: SIGINT."""
    tool.send_signal(signal.SIGINT)
    try:
        tool.wait(timeout=10)
    except subprocess.TimeoutExpired:
        tool.kill()
        tool.wait()


def parse_perf_counts(text: str, names: list[str]) -> dict[str, int]:
    """Calls by name from `perf stat -x,` output over `perf_events` (printed in their
    order); the total becomes the calls not counted by name."""
    counts = [
        int(fields[0])
        for fields in (line.split(",") for line in text.splitlines())
        if len(fields) > 2 and fields[2].startswith("raw_syscalls:") and fields[0].isdigit()
    ]
    if len(counts) != len(names):
        raise ExplainFailed(f"perf counted {len(counts)} events, not {len(names)}")
    by_name = dict(zip(names, counts, strict=True))
    by_name[OTHER] -= sum(count for name, count in by_name.items() if name != OTHER)
    return {name: count for name, count in by_name.items() if count}


def perf_works() -> bool:
    """Whether perf can count system calls by number here (it needs tracefs, root, and the
    kernel headers that give the numbers)."""
    numbers = syscall_numbers()
    if shutil.which("perf") is None or "getpid" not in numbers:
        return False
    probe = subprocess.run(
        ["perf", "stat", "-e", "raw_syscalls:sys_enter", "--filter",
         f"id == {numbers['getpid']}", "-x,", "true"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return probe.returncode == 0


def syscall_counter() -> str | None:
    """`perf` where it works (it counts without stopping the server, so timing-dependent
    counts stay true), else `strace` (ptrace stops slow the server: a sock_* read then
    rarely has to wait, and registers with the selector less often), else None."""
    if perf_works():
        return "perf"
    return "strace" if shutil.which("strace") else None


class Driver:
    """Runs the load generator, pinned apart, against one server."""

    def __init__(
        self, cell: Cell, server: ServerProcess, pinning: Pinning, client_loop: str
    ) -> None:
        self.cell, self.server, self.pinning, self.client_loop = cell, server, pinning, client_loop

    def run(self, *args: str) -> dict[str, Any]:
        endpoint = self.server.endpoint
        command = [
            sys.executable, "-m", "clients", self.cell.protocol, "--connect", str(endpoint),
            "--loop", self.client_loop, "--size", str(self.cell.size),
            "--concurrency", str(self.cell.concurrency), "--pipeline", str(self.cell.pipeline),
            "--server-pid", str(self.server.pid), "--json", *args,
        ]  # fmt: skip
        client = spawn_pinned(
            command,
            self.pinning.client_cpus,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            out, err = client.communicate(timeout=120)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
        if client.returncode != 0 or not out.strip():
            why = err.strip().splitlines()[-1] if err.strip() else f"exit {client.returncode}"
            raise ExplainFailed(f"{self.cell.name}: the load generator failed: {why}")
        return json.loads(out)

    def echoes(self, requests: int) -> None:
        summary = self.run("--requests", str(requests))
        if summary["errors"] or summary["requests"] != requests:
            raise ExplainFailed(
                f"{self.cell.name}: {summary['error_messages'] or 'echoes missing'}"
            )


def counted(
    measure: Callable[[], dict[str, float]], run: Callable[[int], None], n: int
) -> dict[str, float]:
    """Per request, by N/2N differencing: `measure` reads a cumulative count, `run(k)` makes
    k echoes."""
    before = measure()
    run(n)
    middle = measure()
    run(2 * n)
    after = measure()
    once = {k: middle[k] - before.get(k, 0) for k in middle}
    twice = {k: after[k] - middle.get(k, 0) for k in after}
    return differenced(once, twice, n)


def traced_syscalls(
    driver: Driver, workdir: Path, n: int, counter: str
) -> tuple[dict[str, float], dict[str, float] | None]:
    """System calls per request (and with strace, failed ones), counted around an N and a 2N
    run and differenced."""
    events, names = perf_events(syscall_numbers())
    totals: list[tuple[dict[str, int], dict[str, int]]] = []
    for k in (n, 2 * n):
        output = workdir / f"{counter}.{k}"
        if counter == "perf":
            with perf_counting(driver.server.pid, output, events):
                driver.echoes(k)
            totals.append((parse_perf_counts(output.read_text(), names), {}))
        else:
            with strace_attached(driver.server.pid, output):
                driver.echoes(k)
            totals.append(parse_strace_summary(output.read_text()))
    (calls_n, errors_n), (calls_2n, errors_2n) = totals
    failed = differenced(errors_n, errors_2n, n) if counter == "strace" else None
    per_request = differenced(calls_n, calls_2n, n)
    # Waits depend on timing (how many connections are ready per wait), so a difference of
    # two runs is mostly noise and can even be negative: they are averaged over both runs
    # instead, where the few waits of connecting and closing vanish among thousands.
    for name in LOOP_PASSES:
        per_request.pop(name, None)
        waits = calls_n.get(name, 0) + calls_2n.get(name, 0)
        if waits:
            per_request[name] = round(waits / (3 * n), 4)
    return per_request, failed


def open_idle(
    endpoint: Endpoint, protocol: str, count: int, server: psutil.Process
) -> list[socket.socket]:
    """`count` idle connections (WebSocket ones past their handshake), opened in batches
    that the server accepts before the next: asyncio listens with a backlog of 100, and an
    overflowing accept queue drops SYNs, which costs a 1 s retransmission each."""
    sockets: list[socket.socket] = []
    try:
        while len(sockets) < count:
            fds = server.num_fds()
            batch = min(IDLE_BATCH, count - len(sockets))
            for _ in range(batch):
                sock = connect(endpoint)
                sockets.append(sock)
                if protocol == "ws":
                    handshake(sock, endpoint)
            deadline = time.monotonic() + 5
            while server.num_fds() < fds + batch and time.monotonic() < deadline:
                time.sleep(0.001)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def handshake(sock: socket.socket, endpoint: Endpoint) -> None:
    """The client side of a WebSocket opening handshake on a blocking socket."""
    key = new_key()
    sock.sendall(handshake_request(endpoint.host, key))
    response = b""
    while parse_handshake_response(response, key) is None:
        chunk = sock.recv(4096)
        if not chunk:
            raise ExplainFailed("the server closed an idle connection during its handshake")
        response += chunk


def rss_per_connection(
    server: ServerProcess, protocol: str, count: int, cpus: frozenset[int]
) -> float:
    """Bytes of server RSS each idle connection adds (growth over `count` of them), the
    connections opened from the client's CPUs so the server keeps its own."""
    process = psutil.Process(server.pid)
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        before = process.memory_info().rss
        sockets = open_idle(server.endpoint, protocol, count, process)
        try:
            time.sleep(IDLE_SETTLE_S)
            return (process.memory_info().rss - before) / count
        finally:
            for sock in sockets:
                sock.close()
    finally:
        os.sched_setaffinity(0, affinity)


def started(
    cell: Cell, pinning: Pinning, workdir: Path, env: dict[str, str] | None = None
) -> ServerProcess:
    """A fresh, pinned and warmed server, as `bench run` measures them (bench.run.warm)."""
    server = start_server(cell, pinning, workdir, env=env)
    if isinstance(server, Failure):
        raise ExplainFailed(f"{cell.name}: {server.reason}")
    return server


def python_calls(cell: Cell, pinning: Pinning, workdir: Path, n: int, client_loop: str) -> float:
    """Python function calls per request, from a server with the counting hook on."""
    with started(cell, pinning, workdir, {**os.environ, COUNT_CALLS_ENV: "1"}) as server:
        driver = Driver(cell, server, pinning, client_loop)

        def read_count() -> dict[str, float]:
            server.process.send_signal(signal.SIGUSR1)
            ready, _, _ = select.select([server.process.stdout], [], [], 10)
            line = server.process.stdout.readline() if ready else ""  # type: ignore[union-attr]
            if not line.startswith("CALLS "):
                raise ExplainFailed(
                    f"{cell.name}: no call count from the server ({line.strip() or 'silent'})"
                )
            return {"calls": float(line.split()[1])}

        return counted(read_count, driver.echoes, n).get("calls", 0.0)


def explain_cell(
    cell: Cell,
    pinning: Pinning,
    workdir: Path,
    requests: int,
    idle_connections: int,
    counter: str | None,
    with_python_calls: bool,
    client_loop: str = "uvloop",
) -> Explained:
    """Every measure of one cell; raises ExplainFailed when a run fails."""
    with started(cell, pinning, workdir) as server:
        driver = Driver(cell, server, pinning, client_loop)
        timed = driver.run("--duration", "1", "--warmup", "0.3")
        if timed["errors"]:
            raise ExplainFailed(f"{cell.name}: {timed['error_messages'][0]}")
        switches = timed["server_context_switches_per_request"]
        syscalls, failed = (
            traced_syscalls(driver, workdir, requests, counter) if counter else (None, None)
        )
        rss = (
            rss_per_connection(server, cell.protocol, idle_connections, pinning.client_cpus)
            if idle_connections
            else None
        )
    calls = (
        python_calls(cell, pinning, workdir, requests, client_loop)
        if with_python_calls and cell.loop != "epoll"
        else None
    )
    return Explained(
        api=cell.api,
        loop=cell.loop,
        requests=requests,
        syscalls=syscalls,
        failed_syscalls=failed,
        user_us=timed["server_user_us_per_request"],
        system_us=timed["server_system_us_per_request"],
        voluntary_switches=switches["voluntary"],
        involuntary_switches=switches["involuntary"],
        python_calls=calls,
        rss_per_connection_bytes=rss,
        idle_connections=idle_connections,
        counter=counter,
    )


def idle_connection_count(wanted: int | None) -> tuple[int, str | None]:
    """How many idle connections to open: `wanted`, or 10,000 when the open-file limit
    allows it (raised to the hard limit first) and 1,000 otherwise; plus a note when the
    limit cut it down."""
    limit = raise_fd_limit()
    usable = limit - 256  # the orchestrator's own files, the client's, the server's
    target = wanted if wanted is not None else 10_000
    if usable >= target:
        return target, None
    count = max(0, min(target, usable, 1_000 if wanted is None else usable))
    return count, f"the open-file limit ({limit}) allows {count} idle connections, not {target:,}"


def counter_note(counter: str | None) -> str | None:
    """One line for the user when system calls cannot be counted, or only with strace."""
    if counter is None:
        return f"neither perf nor strace can count system calls here (Debian packages {COUNTER_PACKAGES}): those columns are skipped"
    if counter == "strace":
        return "perf cannot count system calls here, so strace does: its stops slow the server, which changes timing-dependent counts (epoll_ctl of sock_*)"
    return None


def syscall_total(explained: Explained) -> float | None:
    return sum(explained.syscalls.values()) if explained.syscalls is not None else None


def table(rows: list[Explained]) -> str:
    """One line per cell: the per-request figures a person compares."""

    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines = [
        f"{'cell':<22} {'syscalls':>9} {'loop passes':>12} {'epoll_ctl':>10} {'switches v/i':>13} "
        f"{'user us':>8} {'sys us':>7} {'py calls':>9} {'RSS/conn':>9}  top system calls per request"
    ]
    for row in rows:
        shown = {k: v for k, v in (row.syscalls or {}).items() if v >= 0.005}  # not noise
        top = sorted(shown.items(), key=lambda kv: -kv[1])[:4]
        ctl = row.syscalls.get("epoll_ctl", 0.0) if row.syscalls is not None else None
        rss = fmt(
            row.rss_per_connection_bytes / 1024
            if row.rss_per_connection_bytes is not None
            else None,
            ".1f",
        )
        lines.append(
            f"{row.api + '/' + row.loop:<22} {fmt(syscall_total(row), '.2f'):>9} {fmt(row.loop_passes, '.3f'):>12} "
            f"{fmt(ctl, '.2f'):>10} {row.voluntary_switches:>6.2f}/{row.involuntary_switches:<6.2f} "
            f"{row.user_us:>8.2f} {row.system_us:>7.2f} {fmt(row.python_calls, '.1f'):>9} {rss + ' KiB':>9}  "
            + ", ".join(f"{name} {count:.2f}" for name, count in top)
        )
    return "\n".join(lines)


def explain_all(
    cells: list[Cell],
    pinning: Pinning,
    requests: int,
    idle_wanted: int | None,
    with_python_calls: bool,
    client_loop: str,
    on_done: Callable[[list[Explained]], None],
) -> tuple[list[Explained], list[str]]:
    """Explain every cell in turn (a fresh server each); returns the results and one line per
    failed cell. `on_done` gets the results so far after each cell, to save them."""
    counter = syscall_counter()
    idle, idle_note = idle_connection_count(idle_wanted)
    for note in filter(None, (counter_note(counter), idle_note)):
        print(f"bench: {note}", file=sys.stderr)
    done: list[Explained] = []
    failures: list[str] = []
    for number, cell in enumerate(cells, 1):
        print(f"[{number}/{len(cells)}] {cell.api}/{cell.loop}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="aionetbench-explain-") as workdir:
            try:
                done.append(
                    explain_cell(
                        cell,
                        pinning,
                        Path(workdir),
                        requests,
                        idle,
                        counter,
                        with_python_calls,
                        client_loop,
                    )
                )
            except (ExplainFailed, ServerFailed, OSError) as error:
                failures.append(str(error))
                print(f"FAILED {cell.name}: {error}", file=sys.stderr)
        on_done(done)
    return done, failures
