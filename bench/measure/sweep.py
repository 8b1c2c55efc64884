"""Open-loop sweeps: latency against offered load, the wrk2 and Lancet method.

After the throughput matrix, each cell is driven open loop at a ladder of offered loads
(messages/s). An `auto` ladder is one set of *absolute* rates shared by every cell, so that
curves compare at equal load: log-spaced from 20% of the slowest cell's measured capacity to
110% of the fastest's. Each cell climbs the ladder on one server (started fresh for the
cell) until its first point beyond the latency objective, then bisects the knee (see
`sweep_cell`): the measuring time goes where the answer is decided. A point where the load
generator fell behind its schedule, or caught up a backlog, is a client limit and ends the
climb; one where it stalled (a passing hiccup of the client), or whose long tail another
thread, the hypervisor or the client can make (measured again first, up to REMEASURES times),
is no server result either way, and the climb goes on past it. What a point can say is
clients.judgement's to tell, from the load generator's summary and the server's wake-ups
(`Measurement.flags`).
"""

import math
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aionetbench.serverproc import ServerProcess
from bench.measure.run import Pinning, measure, start_server
from bench.plan.cells import Cell
from bench.plan.profiles import LADDER_POINTS, Plan
from bench.store.schema import Failure, Measurement

LADDER_LOW = 0.2  # of the slowest cell's capacity
LADDER_HIGH = 1.10  # of the fastest cell's capacity
KNEE_BRACKET = 1.10  # the knee is found when its bracket's ends are within 10% (+-5%)
# A doubtful point (interfered with, stalled, an unreliable miss) is measured again up to
# this many times: the machine's episodes pass in a second or two, and a knee whose middle
# says nothing stays unresolved.
REMEASURES = 2
BEYOND_STEPS = 3  # steps the climb may take past the ladder's top, or below its bottom
BEYOND_STEP = 1.25


def round_rate(rate: float, digits: int = 2) -> float:
    """`digits` significant digits (two for the ladder, so its rates read well in names and
    plots; three for the knee search, whose steps are finer)."""
    if rate < 10:
        return max(1.0, round(rate))
    scale = 10 ** (math.floor(math.log10(rate)) - digits + 1)
    return float(round(rate / scale) * scale)


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


def within(outcome: Measurement, slo_us: float) -> bool | None:
    """Whether a point met the objective; None if it cannot say: the load generator limited
    it, or it missed where another thread or the hypervisor can have made the miss, once
    (they only ever add latency: a point met despite them is the server's success; a miss
    they made again when measured again is this machine's steady state, and the server's)."""
    flags = outcome.flags
    if flags.saturated:
        return False
    if flags.client_limited:
        return None
    met = outcome.client.latency.p99 <= slo_us
    return None if flags.interfered and not met and not outcome.remeasured else met


def beyond(rates: list[float], steps: int) -> list[float]:
    """`steps` loads past the end of a ladder, BEYOND_STEP apart: its top is already past the
    fastest closed-loop capacity, and open loop rarely sustains much more."""
    return [round_rate(rates[-1] * BEYOND_STEP**i, 3) for i in range(1, steps + 1)]


def below(rates: list[float], steps: int) -> list[float]:
    """`steps` loads under the start of a ladder, at its first step (or /2), going down."""
    step = rates[1] / rates[0] if len(rates) > 1 else 2.0
    return [r for r in (round_rate(rates[0] / step**i) for i in range(1, steps + 1)) if r >= 1]


@dataclass
class Knee:
    """The bracket around the objective's knee: the highest load that met it, the lowest
    above that did not, the lowest above it where the load generator hit its own limit, and
    the loads already measured (plain logic, tested without sockets)."""

    good: float | None = None
    bad: float | None = None
    limit: float | None = None  # the load generator's: the server was not measured there
    tried: set[float] = field(default_factory=set)

    def record(self, rate: float, verdict: bool | None, limited: bool = False) -> None:
        """A point's verdict (`within`), and whether the load generator limited it (fell
        behind, caught up or stalled); a None verdict that was no limit (interference)
        moves no end."""
        self.tried.add(rate)
        if verdict and (self.good is None or rate > self.good):
            self.good = rate
            if self.bad is not None and self.bad <= rate:
                self.bad = None  # a miss below a success was noise, as slo_capacity treats it
            if self.limit is not None and self.limit <= rate:
                self.limit = None
        above_good = rate > (self.good or 0)
        if verdict is False and above_good and (self.bad is None or rate < self.bad):
            self.bad = rate
        if limited and above_good and (self.limit is None or rate < self.limit):
            self.limit = rate

    @property
    def top(self) -> float | None:
        """The bracket's upper end: the lowest miss, or else the lowest client limit (then
        the search finds how close to the load generator's limit the server still meets
        the objective)."""
        ends = [end for end in (self.bad, self.limit) if end is not None]
        return min(ends) if ends else None

    def next_rate(self) -> float | None:
        """The geometric middle of the bracket while it is wider than KNEE_BRACKET; if that
        was measured and said nothing (interfered with, or stalled), the middle of its lower
        half, then of its upper half; None when the bracket is narrow enough or all three
        said nothing."""
        top = self.top
        if self.good is None or top is None or top / self.good <= KNEE_BRACKET:
            return None
        middle = math.sqrt(self.good * top)
        halves = (math.sqrt(self.good * middle), math.sqrt(middle * top))
        for candidate in (round_rate(rate, 3) for rate in (middle, *halves)):
            if self.good < candidate < top and candidate not in self.tried:
                return candidate
        return None


class Climb:
    """One cell's sweep on one server: each point measured (and again, up to REMEASURES
    times, if another thread, the hypervisor or the client may have made its tail), and its verdict kept
    in the knee's bracket."""

    def __init__(
        self, cell: Cell, plan: Plan, pinning: Pinning, server: ServerProcess, workdir: Path
    ) -> None:
        self.cell, self.plan, self.pinning, self.server, self.workdir = (
            cell, plan, pinning, server, workdir,
        )  # fmt: skip
        self.slo_us = plan.slo_p99_ms * 1000
        self.knee = Knee()
        self.budget = plan.sweep_budget or math.inf
        self.measurements = 0

    @property
    def spent(self) -> bool:
        """Whether the plan's sweep budget is spent: no more remeasures nor knee points."""
        return self.measurements >= self.budget

    def point(self, rate: float, confirm_miss: bool = False) -> Measurement | Failure:
        """Measure at `rate`; again (up to REMEASURES times, within the sweep budget) if it
        missed where another thread, the hypervisor or the client may have made the miss, if
        the load generator sent over STALL_SHARE of its messages in a stall of its own
        (clients.result: a stall passes, and if it stays the point is client-limited), or
        (`confirm_miss`, on the climb) if it missed unsaturated with a p99 not known to
        +-10%: on a shared machine a few seconds of noise can miss it, and the climb's first
        miss decides where the knee is searched, so it must be the server's."""
        outcome = self.measured(rate)
        for _ in range(REMEASURES):
            if self.spent or not (
                isinstance(outcome, Measurement) and self.doubtful(outcome, confirm_miss)
            ):
                break
            again = self.measured(rate)
            if not isinstance(again, Measurement):
                break
            again.remeasured = True
            outcome = again
        if isinstance(outcome, Measurement):
            # A stall limits the bracket too: near its limit the load generator stalls before it
            # falls behind, and a point it stalled says nothing of the server.
            flags = outcome.flags
            self.knee.record(rate, within(outcome, self.slo_us), flags.client_limited)
        else:
            self.knee.record(rate, None)
        return outcome

    def doubtful(self, outcome: Measurement, confirm_miss: bool) -> bool:
        """Whether to measure a point again: a miss another thread, the hypervisor or the
        client can have made, a stall of the client, or (`confirm_miss`) an unsaturated miss
        whose p99 is not known to +-10%."""
        flags = outcome.flags
        missed = not flags.saturated and outcome.client.latency.p99 > self.slo_us
        unsure = flags.interfered or (confirm_miss and flags.unreliable)
        return flags.stalled or (missed and unsure)

    def measured(self, rate: float) -> Measurement | Failure:
        self.measurements += 1
        return measure(self.cell, self.plan, self.pinning, self.server, self.workdir, rate)


def sweep_cell(
    cell: Cell, rates: Iterable[float], plan: Plan, pinning: Pinning, python: str
) -> Iterator[tuple[float, Measurement | Failure]]:
    """Climb `rates` on one fresh server, then search the knee, yielding each point.

    The climb stops at the first point beyond the objective (or saturated; an unreliable
    miss is measured twice), or where the load generator fell behind; if the whole ladder
    met the objective it goes on past its top, and if its first point missed, down below it
    (BEYOND_STEPS at most each way). Then the bracket between the highest load within the
    objective and the lowest beyond it (or, if the load generator's limit came first, the
    lowest it limited) is bisected in log load until it is within +-5% (KNEE_BRACKET). A
    failure ends the cell (the next cell starts its own server). Close the iterator to stop
    the server early."""
    rates = sorted(rates)
    with tempfile.TemporaryDirectory(prefix="aionetbench-") as directory:
        workdir = Path(directory)
        server = start_server(cell, pinning, workdir, python)
        if isinstance(server, Failure):
            yield rates[0], server
            return
        with server:
            climb = Climb(cell, plan, pinning, server, workdir)
            for rate in rates + beyond(rates, BEYOND_STEPS):
                outcome = climb.point(rate, confirm_miss=True)
                yield rate, outcome
                if isinstance(outcome, Failure):
                    return
                if outcome.flags.stops_climbing or climb.knee.bad is not None:
                    break
                if rate > rates[-1] and climb.knee.good is None:
                    break  # past the ladder with nothing measurable: no knee to find
            if climb.knee.good is None and climb.knee.bad == rates[0]:
                for rate in below(rates, BEYOND_STEPS):
                    outcome = climb.point(rate)
                    yield rate, outcome
                    if isinstance(outcome, Failure):
                        return
                    if climb.knee.good is not None:
                        break
            while not climb.spent and (rate := climb.knee.next_rate()) is not None:
                outcome = climb.point(rate)
                yield rate, outcome
                if isinstance(outcome, Failure):
                    return
