"""Points long enough to trust: an open-loop load measured in slices until its p99 is known
to within a stated margin, or a cap is reached (Lancet's self-checking samples).

Each slice is a whole run of the load generator (connect, a short warm-up, one window of
`--duration`, drain); the slices' windows join exactly (histograms add, time blocks
concatenate), so the p99 and its block-bootstrap interval are those of one long window. A
steady server is done after one slice; a noisy one, or a rare long stall, gets more.
"""

import dataclasses
import math
from collections.abc import Callable

from clients import stats
from clients.judgement import p99_half_width, point_flags
from clients.result import summarize
from clients.spec import LoadSpec
from clients.summary import Summary
from clients.window import WorkerResult

SLICE_WARMUP_S = 0.1  # after the first slice the server is warm; only the connections are new
DEFAULT_SLICES = 5  # the cap without --max-duration: five windows
OVERLOADED = 0.9  # answering under this share of the arrivals: no more slices


def joined(first: WorkerResult, second: WorkerResult) -> WorkerResult:
    """One worker's two consecutive slices as one window."""
    return WorkerResult(
        connections=first.connections,
        requests=first.requests + second.requests,
        opened=first.opened + second.opened,
        resumed=first.resumed + second.resumed,
        window_s=first.window_s + second.window_s,
        cpu_s=first.cpu_s + second.cpu_s,
        latency=stats.joined(first.latency, second.latency),
        blocks=first.blocks + second.blocks,
        undelivered=first.undelivered + second.undelivered,
        intended=stats.joined(first.intended, second.intended),
        lag=stats.joined(first.lag, second.lag),
        timed=first.timed + second.timed,
        realtime_s=first.realtime_s + second.realtime_s,
        scheduled=first.scheduled + second.scheduled,
        sent=first.sent + second.sent,
        server=first.server + second.server if first.server and second.server else None,
        errors=first.errors + second.errors,
        slices=first.slices + second.slices,
        own_wait_s=first.own_wait_s + second.own_wait_s,
        own_involuntary=first.own_involuntary + second.own_involuntary,
        steal_s=first.steal_s + second.steal_s,
        started_ns=first.started_ns,
        ended_ns=second.ended_ns,
        silent_s=max(first.silent_s, second.silent_s),
    )


def sound(summary: Summary, within: float) -> bool:
    """Whether more slices would not change what the point says: its p99 is known to within
    +-`within`, or it failed, the load generator fell behind, or the server answered under
    OVERLOADED of the arrivals and left some unanswered after the drain (a longer window
    only confirms those; a short window that ended in a stall, answered in the drain, can
    look saturated, and gets more slices)."""
    schedule = summary.schedule
    if summary.errors or schedule is None or point_flags(summary).fell_behind:
        return True
    arrived = schedule.scheduled_rate or schedule.target_rate
    if schedule.achieved_rate < OVERLOADED * arrived and summary.undelivered:
        return True
    half_width = p99_half_width(summary.latency.p99, schedule.p99_ci_us)
    return half_width is not None and half_width <= within


def measure_sliced(
    spec: LoadSpec, measure: Callable[[LoadSpec], list[WorkerResult]], generator: str
) -> Summary:
    """Measure `spec` once, or (open loop with `p99_within`) slice by slice until sound."""
    results = measure(spec)
    summary = summarize(spec, results, generator)
    if not spec.rate or spec.p99_within is None:
        return summary
    cap = spec.max_duration or DEFAULT_SLICES * spec.duration
    slices = max(1, math.floor(cap / spec.duration + 1e-9))  # whole windows within the cap
    later = dataclasses.replace(spec, warmup=min(spec.warmup, SLICE_WARMUP_S))
    while not sound(summary, spec.p99_within) and summary.slices < slices:
        results = [joined(a, b) for a, b in zip(results, measure(later), strict=True)]
        summary = summarize(spec, results, generator)
    return summary
