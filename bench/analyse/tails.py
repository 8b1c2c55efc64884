"""Where a long tail comes from: for an open-loop point whose p99 is over LONG_TAIL times its
p50, which of the server's garbage collections, its waits for a CPU, the hypervisor's steal
and the load generator's own stalls or waits were large enough to make the slowest 1%.

The rule is one of size: a cause accounts for the tail if it lasted at least half the p99
at once (a GC pause) or was present for CAUSE_SHARE of the window (the p99 is the slowest 1%
of messages, so a cause present that long can hold them up). Nothing found is said too:
then the tail is the server's and the kernel's own (queueing, waking an idle core).
"""

from bench.store.reader import SweepPoint
from clients.contract import CAUSE_SHARE, LONG_TAIL


def long_tail(point: SweepPoint) -> bool:
    return point.p99_us > LONG_TAIL * point.p50_us


def gc_cause(point: SweepPoint) -> str | None:
    """The server's collections, if they were long or frequent enough to make the tail."""
    gc = point.gc
    if gc is None or not gc.pauses:
        return None
    window_ms = 1000 * point.duration_s
    if 1000 * gc.longest_ms < point.p99_us / 2 and gc.pause_ms < CAUSE_SHARE * window_ms:
        return None
    return (
        f"GC: {gc.pauses} pauses of 0.1 ms or more ({gc.pause_ms:,.1f} ms in all), the longest "
        f"{gc.longest_ms:,.1f} ms in generation {gc.longest_generation}; "
        f"{gc.collections[2]} collections of generation 2 over the point"
    )


def causes(point: SweepPoint) -> list[str]:
    """What accounts for a long tail, largest kinds first; empty for a short one."""
    if not long_tail(point):
        return []
    found = [cause] if (cause := gc_cause(point)) else []
    if point.waits is not None:
        found += point.waits.interference(point.duration_s)
    if point.stalled:
        found.append("the load generator stalled: its late sends carry the tail")
    return found


def attribution(point: SweepPoint) -> str:
    """One sentence on a long tail: its causes, or that none was seen."""
    found = causes(point)
    if found:
        return "; ".join(found)
    return (
        "none of GC, CPU waits, steal or a client stall was large enough; what is left is the "
        f"server's and the kernel's own latency, which this does not split (its core "
        f"{point.server_cpu:.0%} busy)"
    )
