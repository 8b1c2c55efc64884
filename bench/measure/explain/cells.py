"""Every measure of each cell in turn, a fresh server each, and the table people read."""

import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from aionetbench.cpus import stop_children
from aionetbench.serverproc import ServerFailed
from bench.measure.explain.driver import Driver, ExplainFailed, python_calls, started
from bench.measure.explain.memory import idle_connection_count, rss_per_connection
from bench.measure.explain.syscalls import (
    counter_note,
    open_load_calls,
    syscall_counter,
    traced_syscalls,
)
from bench.measure.run import Pinning
from bench.plan.cells import Cell
from bench.plan.profiles import EXPLAIN_OPEN_RATE
from bench.store.explained import Explained, syscall_total
from servers import SERVERS

SINGLE_REQUESTS = 1000  # echoes (and twice that) for loop passes on one connection
CHURN_CONNECTIONS = 500  # connections of one echo each (and twice that): the accept path
OPEN_SECONDS = 0.25  # the shorter of the two open-load windows counted


def explain_cell(
    cell: Cell,
    pinning: Pinning,
    workdir: Path,
    requests: int,
    idle_connections: int,
    counter: str | None,
    with_python_calls: bool,
    client_loop: str = "uvloop",
    open_rate: float = EXPLAIN_OPEN_RATE,
) -> Explained:
    """Every measure of one cell; raises ExplainFailed when a run fails."""
    with started(cell, pinning, workdir) as server:
        driver = Driver(cell, server, pinning, client_loop)
        timed = driver.timed().server
        assert timed is not None  # Driver.timed checks it
        syscalls, failed = (
            traced_syscalls(driver, workdir, requests, counter) if counter else (None, None)
        )
        single = open_calls = churn = None
        if counter:
            one = Driver(replace(cell, concurrency=1), server, pinning, client_loop)
            single, _ = traced_syscalls(one, workdir, SINGLE_REQUESTS, counter, "single")
            open_calls = open_load_calls(driver, workdir, open_rate, OPEN_SECONDS, counter)
            if pinning.clients.preferred.workloads:  # connection churn: the native generator's
                churning = Driver(cell, server, pinning, client_loop, churn=1)
                churn, _ = traced_syscalls(churning, workdir, CHURN_CONNECTIONS, counter, "churn")
        rss = (
            rss_per_connection(server, cell.protocol, idle_connections, pinning.client_cpus)
            if idle_connections
            else None
        )
    calls = (
        python_calls(cell, pinning, workdir, requests, client_loop)
        if with_python_calls and SERVERS[cell.api].runs_python
        else None
    )
    return Explained(
        api=cell.api,
        loop=cell.loop,
        requests=requests,
        syscalls=syscalls,
        failed_syscalls=failed,
        user_us=timed.user_us,
        system_us=timed.system_us,
        voluntary_switches=timed.voluntary_switches,
        involuntary_switches=timed.involuntary_switches,
        python_calls=calls,
        rss_per_connection_bytes=rss,
        idle_connections=idle_connections,
        counter=counter,
        single_loop_passes=None if single is None else Explained.passes(single),
        single_syscalls=single,
        open_syscalls=open_calls,
        open_rate=open_rate if open_calls is not None else None,
        churn_syscalls=churn,
    )


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
    open_rate: float = EXPLAIN_OPEN_RATE,
) -> tuple[list[Explained], list[str]]:
    """Explain every cell in turn (a fresh server each); returns the results and one line per
    failed cell. `on_done` gets the results so far after each cell, to save them. Ctrl-C
    (or SIGTERM, once the caller turns it into one) raises Interrupted with the cells done:
    the cell it cut short is neither explained nor failed."""
    counter = syscall_counter()
    idle, idle_note = idle_connection_count(idle_wanted)
    for note in filter(None, (counter_note(counter), idle_note)):
        print(f"bench: {note}", file=sys.stderr)
    done: list[Explained] = []
    failures: list[str] = []
    try:
        for number, cell in enumerate(cells, 1):
            print(f"[{number}/{len(cells)}] {cell.api}/{cell.loop}", file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory(prefix="aionetbench-explain-") as workdir:
                try:
                    done.append(
                        explain_cell(cell, pinning, Path(workdir), requests, idle, counter,
                                     with_python_calls, client_loop, open_rate)
                    )  # fmt: skip
                except (ExplainFailed, ServerFailed, OSError) as error:
                    failures.append(str(error))
                    print(f"FAILED {cell.name}: {error}", file=sys.stderr)
            on_done(done)
    except KeyboardInterrupt:
        stop_children()
        raise Interrupted(done) from None
    return done, failures


class Interrupted(Exception):
    """Ctrl-C or SIGTERM while explaining: the cells explained before it."""

    def __init__(self, done: list[Explained]) -> None:
        super().__init__(f"interrupted after {len(done)} cells")
        self.done = done
