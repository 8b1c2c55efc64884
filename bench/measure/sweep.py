"""Open-loop sweeps: latency against offered load, the wrk2 and Lancet method.

After the throughput matrix, each cell is driven open loop at a ladder of offered loads
(messages/s). An `auto` ladder is one set of *absolute* rates shared by every cell, so that
curves compare at equal load: log-spaced from 5% of the slowest cell's measured capacity to
110% of the fastest's. Each cell climbs the ladder on one server (started fresh for the
cell) and stops after its first saturated or client-limited point: higher loads would only
cost time. A point where the load generator fell behind its schedule is a client limit,
never a server result; so is one where it stalled (a passing hiccup of the client or the
machine that made the tail its own), but the climb goes on past a stall. What a point can
say is the load generator's summary's to tell (clients.contract.PointFlags).
"""

import math
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from bench.measure.run import Pinning, measure, start_server
from bench.plan.cells import Cell
from bench.plan.profiles import LADDER_POINTS, Plan
from bench.store.schema import Failure, Measurement

LADDER_LOW = 0.05  # of the slowest cell's capacity
LADDER_HIGH = 1.10  # of the fastest cell's capacity


def round_rate(rate: float) -> float:
    """Two significant digits, so that ladder rates read well in names and plots."""
    if rate < 10:
        return max(1.0, round(rate))
    digits = 10 ** (math.floor(math.log10(rate)) - 1)
    return float(round(rate / digits) * digits)


def ladder(capacities: Iterable[float], points: int = LADDER_POINTS) -> tuple[float, ...]:
    """Offered loads log-spaced from LADDER_LOW x the slowest capacity to LADDER_HIGH x the
    fastest, rounded; empty when no capacity is known."""
    capacities = [c for c in capacities if c > 0]
    if not capacities:
        return ()
    low, high = LADDER_LOW * min(capacities), LADDER_HIGH * max(capacities)
    if points == 1 or high <= low:
        return (round_rate(high),)
    step = (high / low) ** (1 / (points - 1))
    return tuple(sorted({round_rate(low * step**i) for i in range(points)}))


def sweep_cell(
    cell: Cell, rates: Iterable[float], plan: Plan, pinning: Pinning, python: str
) -> Iterator[tuple[float, Measurement | Failure]]:
    """Climb `rates` on one fresh server, yielding each point; stop after the first point
    that saturated, was client-limited or failed (a dead server ends the cell: the next
    cell starts its own). Close the iterator (contextlib.closing) to stop the server early."""
    rates = sorted(rates)
    with tempfile.TemporaryDirectory(prefix="aionetbench-") as directory:
        workdir = Path(directory)
        server = start_server(cell, pinning, workdir, python)
        if isinstance(server, Failure):
            yield rates[0], server
            return
        with server:
            for rate in rates:
                outcome = measure(cell, plan, pinning, server, workdir, rate)
                yield rate, outcome
                if isinstance(outcome, Failure) or outcome.client.flags.stops_climbing:
                    return
