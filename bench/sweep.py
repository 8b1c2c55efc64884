"""Open-loop sweeps: latency against offered load, the wrk2 and Lancet method.

After the throughput matrix, each cell is driven open loop at a ladder of offered loads
(messages/s). An `auto` ladder is one set of *absolute* rates shared by every cell, so that
curves compare at equal load: log-spaced from 5% of the slowest cell's measured capacity to
110% of the fastest's. Each cell climbs the ladder on one server (started fresh for the
cell) and stops after its first saturated or client-limited point: higher loads would only
cost time. A point where the load generator fell behind its schedule is a client limit,
never a server result; so is one where it stalled (a passing hiccup of the client or the
machine that made the tail its own), but the climb goes on past a stall.
"""

import math
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.plan import LADDER_POINTS, Cell, Plan
from bench.run import Failure, Measurement, Pinning, measure, start_server

LADDER_LOW = 0.05  # of the slowest cell's capacity
LADDER_HIGH = 1.10  # of the fastest cell's capacity
SATURATED_SHARE = 0.97  # replies under this share of the arrivals: the server fell behind
# ...and by at least this many messages: in a short window at a low rate, a few replies still
# in flight when it closes are already 3%, and they are not a backlog.
SATURATED_BACKLOG = 25
UNRELIABLE_HALF_WIDTH = 0.10  # p99's 95% interval wider than +-10%: not an exact figure


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


@dataclass(frozen=True)
class PointFlags:
    """What one open-loop point can and cannot say."""

    saturated: bool  # the server answered under 97% of the arrivals (and 25 messages)
    fell_behind: bool  # the load generator could not keep to its schedule: its limit
    stalled: bool  # it kept to it but for a stall long enough to make the tail its own
    unreliable: bool  # the p99's 95% interval is wider than +-10%, or unknown

    @property
    def client_limited(self) -> bool:
        """The point measured the load generator, not the server."""
        return self.fell_behind or self.stalled

    @property
    def stops_climbing(self) -> bool:
        """A higher load would saturate the server or the client again; a stall passes."""
        return self.saturated or self.fell_behind

    @property
    def names(self) -> list[str]:
        return flag_names(self.saturated, self.client_limited, self.unreliable)


def flag_names(saturated: bool, client_limited: bool, unreliable: bool) -> list[str]:
    """A point's flags as the tables print them."""
    flags = (
        ("saturated", saturated),
        ("client-limited", client_limited),
        ("unreliable p99", unreliable),
    )
    return [name for name, on in flags if on]


def p99_half_width(client: dict[str, Any]) -> float | None:
    """The larger side of the p99's 95% interval, relative to the p99; None if unknown."""
    low, high = client.get("p99_ci_us") or (None, None)
    p99 = client["latency_us"]["p99"]
    if low is None or high is None or p99 <= 0:
        return None
    return max(p99 - low, high - p99) / p99


def point_flags(client: dict[str, Any]) -> PointFlags:
    """Classify an open-loop client summary (clients.result.summarize)."""
    arrived = client.get("scheduled_rate") or client["target_rate"]
    backlog = (arrived - client["achieved_rate"]) * client["duration_s"]
    half_width = p99_half_width(client)
    return PointFlags(
        saturated=client["achieved_rate"] < SATURATED_SHARE * arrived
        and backlog >= SATURATED_BACKLOG,
        fell_behind=bool(client["fell_behind"]),
        stalled=bool(client["client_stalled"]),
        unreliable=half_width is None or half_width > UNRELIABLE_HALF_WIDTH,
    )


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
                if isinstance(outcome, Failure) or point_flags(outcome.client).stops_climbing:
                    return
