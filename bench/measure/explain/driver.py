"""The load generator, pinned apart, driving one fresh server for `bench explain`."""

import os
import select
import signal
from collections.abc import Callable
from pathlib import Path

from aionetbench.serverproc import ServerProcess
from bench.measure.drive import LoadFailed, drive
from bench.measure.run import Pinning, start_server
from bench.plan.cells import Cell
from bench.store.schema import Failure
from clients.spec import LoadSpec
from clients.summary import Summary
from servers.cli import COUNT_CALLS_ENV


class ExplainFailed(Exception):
    """A server or client run failed; the message says which and why."""


class Driver:
    """Runs the load generator, pinned apart, against one server."""

    def __init__(
        self,
        cell: Cell,
        server: ServerProcess,
        pinning: Pinning,
        client_loop: str,
        churn: int | None = None,
    ) -> None:
        self.cell, self.server, self.pinning, self.client_loop = cell, server, pinning, client_loop
        self.churn = churn  # each echo on a connection of its own: accept to close, counted

    def run(self, **load: float | int) -> Summary:
        """One run of the load generator: the cell's load, with `load` for how much."""
        spec = LoadSpec(
            self.cell.protocol,
            self.server.endpoint,
            loop=self.client_loop,
            size=self.cell.size,
            concurrency=self.cell.concurrency,
            pipeline=self.cell.pipeline,
            server_pid=self.server.pid,
            churn=self.churn,
            **load,  # type: ignore[arg-type]
        )
        try:
            return drive(spec, self.pinning.clients, self.pinning.client_cpus)
        except LoadFailed as error:
            raise ExplainFailed(f"{self.cell.name}: {error}") from None

    def timed(self) -> Summary:
        """An untraced 0.5 s window, with the server's CPU over it (in 10 ms ticks: 2%)."""
        summary = self.run(duration=0.5, warmup=0.2)
        if summary.errors or summary.server is None:
            raise ExplainFailed(f"{self.cell.name}: {summary.first_error}")
        return summary

    def echoes(self, requests: int) -> int:
        """Exactly `requests` verified echoes; returns how many (for counting around it)."""
        summary = self.run(requests=requests)
        if summary.errors or summary.requests != requests:
            raise ExplainFailed(f"{self.cell.name}: {summary.first_error}")
        return requests


def differenced(once: dict[str, float], twice: dict[str, float], n: int) -> dict[str, float]:
    """(C(2N) - C(N)) / N per key, rounded so noise-free counts stay readable; keys that
    cancel out to nothing are left out."""
    names = sorted(set(once) | set(twice))
    per = {name: (twice.get(name, 0) - once.get(name, 0)) / n for name in names}
    return {name: round(value, 4) for name, value in per.items() if abs(value) >= 0.0005}


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


def started(
    cell: Cell, pinning: Pinning, workdir: Path, env: dict[str, str] | None = None
) -> ServerProcess:
    """A fresh, pinned and warmed server, as `bench run` measures them (run.warm)."""
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
