"""SLO capacity: the highest offered load a cell sustains within a p99 objective.

One number that ranks APIs by throughput *within* a latency objective, which peak
throughput cannot: a server can be fast at saturation and still miss a 1 ms p99 long
before it gets there. Computed from a cell's open-loop points (bench.measure.sweep).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.store.reader import SweepPoint
from clients.judgement import SATURATED_SHARE

# How a capacity was found.
INTERPOLATED = "interpolated"
BELOW = "below the ladder"  # the lowest load measured already missed the objective
ABOVE = "above the ladder"  # even the highest load of the ladder met it
AT_LEAST = "at least"  # met it up to here; the climb stopped (client limit, failure)
EXACT_BRACKET = 1.101  # the knee search's bracket (bench.measure.sweep.KNEE_BRACKET), rounded


@dataclass(frozen=True)
class SloCapacity:
    rate: float | None  # messages/s; for BELOW the lowest load measured, for ABOVE the highest
    bound: str
    limit: str = ""  # what stopped a climb that ended AT_LEAST
    bracket: tuple[float, float] | None = None  # INTERPOLATED: the loads either side

    @property
    def exact(self) -> bool:
        """Interpolated inside a bracket as narrow as the knee search makes it (+-5%)."""
        return self.bound == INTERPOLATED and (
            self.bracket is None or self.bracket[1] <= EXACT_BRACKET * self.bracket[0]
        )

    def __str__(self) -> str:
        if self.rate is None:
            return "no data"
        if self.bound == INTERPOLATED:
            if self.bracket is None:
                return f"{self.rate:,.0f}"
            low, high = self.bracket
            return f"{self.rate:,.0f} ({low:,.0f}-{high:,.0f})"
        if self.bound == BELOW:
            return f"< {self.rate:,.0f} (below the ladder)"
        why = f" ({self.limit})" if self.limit else f" ({self.bound})"
        return f">= {self.rate:,.0f}{why}"


def meets(point: SweepPoint, slo_us: float) -> bool:
    return (
        not point.saturated
        and not point.client_limited
        and not point.interfered
        and point.p99_us <= slo_us
    )


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
    last good load, as does one that stopped for a failure below the ladder's top. Points
    another process interfered with say nothing either way and are left out."""
    interfered = [p.rate for p in points if p.interfered]
    points = sorted((p for p in points if not p.interfered), key=lambda p: p.rate)
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
        return SloCapacity(
            crossing(best, above, slo_us), INTERPOLATED, bracket=(best.rate, above.rate)
        )
    if any(rate > best.rate for rate in interfered):
        return SloCapacity(best.rate, AT_LEAST, "interfered with above")
    if best.rate >= ladder_top:
        return SloCapacity(best.rate, ABOVE)
    return SloCapacity(best.rate, AT_LEAST, "not measured above")
