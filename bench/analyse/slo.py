"""SLO capacity: the highest offered load a cell sustains within a p99 objective.

One number that ranks APIs by throughput *within* a latency objective, which peak
throughput cannot: a server can be fast at saturation and still miss a 1 ms p99 long
before it gets there. Computed from a cell's open-loop points (bench.measure.sweep).
"""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.store.reader import SweepPoint
from clients.judgement import SATURATED_SHARE

# How a capacity was found.
INTERPOLATED = "interpolated"
BELOW = "below the ladder"  # the lowest load measured already missed the objective
ABOVE = "above the ladder"  # even the highest load of the ladder met it
AT_LEAST = "at least"  # met it up to here; the climb stopped (client limit, failure)
# Bracketed, but wider than the knee search makes it (its middle points were interfered with
# or failed): where in the bracket the capacity lies is not known, so it is neither
# interpolated nor ranked.
UNRESOLVED = "unresolved"
# Fresh server processes whose capacities differ by more than this factor: two modes, each
# named with its count, never one number (processes differ: ASLR, hash seeds, page placement).
BIMODAL = "bimodal"
BIMODAL_RATIO = 2.0
EXACT_BRACKET = 1.101  # the knee search's bracket (bench.measure.sweep.KNEE_BRACKET), rounded


@dataclass(frozen=True)
class SloCapacity:
    """One server process's capacity, or (`cell_capacity`) a cell's over its processes."""

    rate: float | None  # messages/s; for BELOW the lowest load measured, for ABOVE the highest
    bound: str
    limit: str = ""  # what stopped a climb that ended AT_LEAST
    bracket: tuple[float, float] | None = None  # INTERPOLATED, UNRESOLVED: the loads either side
    # INTERPOLATED: where the capacity lies: one process's bracket, or over processes from the
    # lowest of their brackets to the highest. Rankings compare these, never the middles alone.
    interval: tuple[float, float] | None = None
    processes: int = 1  # the server processes this figure stands on
    modes: tuple[tuple[str, int], ...] = ()  # BIMODAL: each mode (as text) and its count
    parts: tuple[str, ...] = ()  # UNRESOLVED over processes: what each said

    @property
    def exact(self) -> bool:
        """A figure, with its interval: interpolated inside brackets as narrow as the knee
        search makes them (+-5%), in every process it stands on."""
        return self.bound == INTERPOLATED

    def clearly_above(self, other: "SloCapacity") -> bool:
        """Both exact, and this one's interval entirely above the other's."""
        if not (self.exact and other.exact and self.interval and other.interval):
            return False
        return self.interval[0] > other.interval[1]

    def __str__(self) -> str:
        if self.bound == BIMODAL:
            return "bimodal: " + " or ".join(
                f"{mode} ({count} process{'es' if count > 1 else ''})" for mode, count in self.modes
            )
        if self.bound == UNRESOLVED:
            if self.parts:
                return "unresolved: " + "; ".join(self.parts)
            low, high = self.bracket or (math.nan, math.nan)
            return f"unresolved: met at {low:,.0f}, missed at {high:,.0f}"
        if self.rate is None:
            return "no data"
        if self.bound == INTERPOLATED:
            if self.processes > 1 and self.interval:
                low, high = self.interval
                return f"{self.rate:,.0f} ({low:,.0f}-{high:,.0f}, {self.processes} processes)"
            if self.bracket is None:
                return f"{self.rate:,.0f}"
            low, high = self.bracket
            return f"{self.rate:,.0f} ({low:,.0f}-{high:,.0f})"
        if self.bound == BELOW:
            return f"< {self.rate:,.0f} (below the ladder)"
        why = f" ({self.limit})" if self.limit else f" ({self.bound})"
        return f">= {self.rate:,.0f}{why}"


def meets(point: SweepPoint, slo_us: float) -> bool:
    """Whether the server met the objective there (interference only ever adds latency, so a
    point met despite it counts; bench.measure.sweep.within judges the same way)."""
    return not point.saturated and not point.client_limited and point.p99_us <= slo_us


def says_nothing(point: SweepPoint, slo_us: float) -> bool:
    """A miss another thread, the hypervisor or the client can have made, measured once: one
    they made again when it was measured again is the machine's steady state, and a miss
    (bench.measure.sweep.within judges the same way)."""
    return point.interfered and not meets(point, slo_us) and not point.remeasured


def crossing(good: SweepPoint, bad: SweepPoint, slo_us: float) -> float:
    """The load between a point that met the objective and the next that did not, where the
    first criterion to fail fails: p99 interpolated in log-log (latency grows roughly as a
    power of load near the knee), the achieved share linearly in log load."""
    fractions = []
    if bad.p99_us > slo_us:
        fractions.append(math.log(slo_us / good.p99_us) / math.log(bad.p99_us / good.p99_us))
    if bad.saturated:
        good_share, bad_share = good.achieved_rate / good.rate, bad.achieved_rate / bad.rate
        if good_share > bad_share:
            fractions.append((good_share - SATURATED_SHARE) / (good_share - bad_share))
    fraction = min(1.0, max(0.0, min(fractions, default=1.0)))
    return math.exp(math.log(good.rate) + fraction * math.log(bad.rate / good.rate))


def slo_capacity(points: Sequence[SweepPoint], slo_us: float, ladder_top: float) -> SloCapacity:
    """The highest offered load with p99 <= `slo_us` and >= 97% of the arrivals answered,
    interpolated towards the next point up; out of range is said, not extrapolated.

    Client-limited points are not server results: a climb that reaches one ends AT_LEAST the
    last good load, as does one that stopped for a failure below the ladder's top. A miss
    another thread, the hypervisor or the client interfered with, measured once, says
    nothing and is left out; a point that met the objective despite it counts."""
    interfered = [p.rate for p in points if says_nothing(p, slo_us)]
    points = sorted((p for p in points if not says_nothing(p, slo_us)), key=lambda p: p.rate)
    if not points:
        return SloCapacity(None, AT_LEAST, "interfered with at every load" if interfered else "")
    good = [i for i, point in enumerate(points) if meets(point, slo_us)]
    if not good:
        if points[0].client_limited:
            return SloCapacity(None, AT_LEAST, "client-limited at every load")
        return SloCapacity(points[0].rate, BELOW)
    highest = good[-1]
    best = points[highest]
    if highest + 1 < len(points):
        above = points[highest + 1]
        if above.client_limited:
            return SloCapacity(best.rate, AT_LEAST, "client-limited above")
        bracket = (best.rate, above.rate)
        if above.rate > EXACT_BRACKET * best.rate:
            return SloCapacity(best.rate, UNRESOLVED, bracket=bracket)
        return SloCapacity(
            crossing(best, above, slo_us), INTERPOLATED, bracket=bracket, interval=bracket
        )
    if any(rate > best.rate for rate in interfered):
        return SloCapacity(best.rate, AT_LEAST, "interfered with above")
    if best.rate >= ladder_top:
        return SloCapacity(best.rate, ABOVE)
    return SloCapacity(best.rate, AT_LEAST, "not measured above")


def cell_capacity(points: Sequence[SweepPoint], slo_us: float, ladder_top: float) -> SloCapacity:
    """A cell's SLO capacity over the fresh server processes that climbed it (`process` of
    each point): BIMODAL where the processes fall into two groups whose ranges lie more than
    BIMODAL_RATIO apart (one process missing at 4,000 msg/s, two still within at 300,000);
    else the median of their exact capacities, the interval spanning all their brackets;
    a bound all of them agree on; or UNRESOLVED, with what each server said."""
    by_process: dict[int, list[SweepPoint]] = {}
    for point in points:
        by_process.setdefault(point.process, []).append(point)
    each = [slo_capacity(line, slo_us, ladder_top) for _, line in sorted(by_process.items())]
    if len(each) == 1:
        return each[0]
    count = len(each)
    if split := modes(each):
        return SloCapacity(None, BIMODAL, processes=count, modes=split)
    exact = [c for c in each if c.exact and c.rate is not None and c.interval]
    if len(exact) >= 2:
        low = min(c.interval[0] for c in exact)  # type: ignore[index]
        high = max(c.interval[1] for c in exact)  # type: ignore[index]
        return SloCapacity(statistics.median(c.rate for c in exact), INTERPOLATED,  # type: ignore[misc]
                           interval=(low, high), processes=len(exact))  # fmt: skip
    kinds = {c.bound for c in each}
    rates = [c.rate for c in each if c.rate is not None]
    if kinds <= {AT_LEAST, ABOVE} and len(rates) == count:
        limits = {c.limit or c.bound for c in each}
        return SloCapacity(min(rates), AT_LEAST, " / ".join(sorted(limits)), processes=count)
    if kinds == {BELOW}:
        return SloCapacity(min(rates), BELOW, processes=count)
    said = tuple(f"server {n} {str(c).removeprefix('unresolved: ')}" for n, c in enumerate(each, 1))
    return SloCapacity(None, UNRESOLVED, processes=count, parts=said)


def where(capacity: SloCapacity) -> tuple[float, float] | None:
    """Where one process's capacity lies, as far as it says: its interval when exact, above
    its rate for a bound, below it under the ladder, inside the bracket when unresolved."""
    if capacity.rate is None:
        return None
    if capacity.exact and capacity.interval:
        return capacity.interval
    if capacity.bound in (AT_LEAST, ABOVE):
        return (capacity.rate, math.inf)
    if capacity.bound == BELOW:
        return (0.0, capacity.rate)
    return capacity.bracket


def modes(each: Sequence[SloCapacity]) -> tuple[tuple[str, int], ...]:
    """The processes in two groups, if some split leaves every range of the lower group more
    than BIMODAL_RATIO below every range of the upper one: each group as text, and its count;
    () where there is no such split."""
    ranges = sorted(((r, c) for c in each if (r := where(c)) is not None), key=lambda rc: rc[0])
    for cut in range(1, len(ranges)):
        lower, upper = ranges[:cut], ranges[cut:]
        if BIMODAL_RATIO * max(high for (_, high), _ in lower) < min(low for (low, _), _ in upper):
            return tuple((mode_text([c for _, c in group]), len(group)) for group in (lower, upper))
    return ()


def mode_text(group: list[SloCapacity]) -> str:
    """One mode: the median of its exact capacities, or where its bounds put it."""
    if all(c.exact for c in group):
        return f"{statistics.median(c.rate for c in group):,.0f}"  # type: ignore[type-var]
    lows = [r[0] for c in group if (r := where(c)) is not None]
    highs = [r[1] for c in group if (r := where(c)) is not None]
    if math.isinf(max(highs)):
        return f">= {min(lows):,.0f}"
    return f"{min(lows):,.0f}-{max(highs):,.0f}"
