"""Where a long tail comes from: for an open-loop point whose p99 is over LONG_TAIL times its
p50, which of the server's garbage collections, its late wake-ups, its waits for a CPU, the
hypervisor's steal and the load generator's own stalls or waits were large enough to make
the slowest 1%.

The rule is one of size: a cause accounts for the tail if it lasted at least half the p99
at once (a GC pause), was present for CAUSE_SHARE of the window (the p99 is the slowest 1%
of messages, so a cause present that long can hold them up), or held up CAUSE_SHARE of the
window's messages (late wake-ups). Nothing found is said too: then the tail is the server's
and the kernel's own (queueing, its own slow paths).
"""

from collections import Counter

from aionetbench.wakeups import IDLE
from bench.store.reader import SweepPoint
from clients.judgement import CAUSE_SHARE, interference_on, woken_late
from clients.judgement import long_tail as is_long_tail

BUSY = 0.95  # a server core this busy queues messages: its own tail


def long_tail(point: SweepPoint) -> bool:
    return is_long_tail(point.p50_us, point.p99_us)


def gc_cause(point: SweepPoint) -> str | None:
    """The server's collections, if they were long or frequent enough to make the tail."""
    gc = point.gc
    if gc is None or not gc.pauses:
        return None
    window_ms = 1000 * point.duration_s
    if 1000 * gc.longest_ms < point.p99_us / 2 and gc.pause_ms < CAUSE_SHARE * window_ms:
        return None
    return (
        f"GC: {plural(gc.pauses, 'pause')} of 0.1 ms or more ({gc.pause_ms:,.1f} ms in all), "
        f"the longest {gc.longest_ms:,.1f} ms in generation {gc.longest_generation}; "
        f"{plural(gc.collections[2], 'collection')} of generation 2 over the point"
    )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def late_wakeups(point: SweepPoint) -> str | None:
    """The server kept from its CPU once woken or preempted, if that made the tail
    (clients.judgement.woken_late), with who held its CPU and how many messages waited."""
    if point.wakeups is None:
        return None
    rate, busy = point.achieved_rate, point.server_cpu
    slow, held = woken_late(point.wakeups, rate, point.p99_us, busy, point.duration_s)
    if not slow:
        return None
    holders = Counter(HOLDER.get(w.held_by, w.held_by) for w in slow)
    by = ", ".join(f"{name} in {count}" for name, count in holders.most_common(3))
    shortest, longest = slow[-1].latency_us / 1000, slow[0].latency_us / 1000
    span = f"{longest:,.1f} ms" if len(slow) == 1 else f"{shortest:,.1f}-{longest:,.1f} ms"
    return (
        f"the server was kept from its CPU {plural(len(slow), 'time')} for {span} once woken or "
        f"preempted (held by {by}): about {held:,.0f} messages held up"
    )


HOLDER = {IDLE: "nothing: an idle CPU resumed late"}


def causes(point: SweepPoint) -> list[str]:
    """What accounts for a long tail, largest kinds first; empty for a short one."""
    if not long_tail(point):
        return []
    found = [cause] if (cause := gc_cause(point)) else []
    kept = late_wakeups(point)
    found += [kept] if kept else []
    waits = interference_on(point.waits, point.duration_s) if point.waits is not None else []
    if kept:  # the wake-ups name who held the server's CPU, exactly
        waits = [(text, cpu) for text, cpu in waits if cpu != "server"]
    found += [named(text, cpu, point) for text, cpu in waits]
    if not kept and "server" not in (cpu for _, cpu in waits):  # else already named
        found += [cause] if (cause := machine_threads(point)) else []
    if point.stalled:
        found.append(
            "the load generator stalled: the messages it sent late went out in bursts the "
            "schedule never asked for"
        )
    elif point.client_limited:
        found.append("the load generator could not keep to its schedule")
    return found


def named(cause: str, cpu: str | None, point: SweepPoint) -> str:
    """A wait for the server's or the load generator's CPU (`cpu`), with the other threads
    that ran there (aionetbench.threads)."""
    ran = [f"{name} {ms:,.1f} ms" for name, where, ms in point.others if where == cpu][:3]
    if not ran:
        return cause
    return f"{cause}: {', '.join(ran)} ran there"


def machine_threads(point: SweepPoint) -> str | None:
    """The machine's own threads on the server's CPU, if they ran there for CAUSE_SHARE of
    the run: each time one runs, a message that arrives waits for it to yield (1-2 ms here),
    and a slow server's backlog spreads that over dozens of messages (docs/open-loop.md)."""
    ran = [(name, ms) for name, where, ms in point.others if where == "server"]
    total = sum(ms for _, ms in ran)
    if not point.others_span_s or total < CAUSE_SHARE * 1000 * point.others_span_s:
        return None
    names = ", ".join(f"{name} {ms:,.1f} ms" for name, ms in ran[:3])
    return (
        f"other threads ran {total:,.1f} ms on the server's CPU over the {point.others_span_s:.1f} s "
        f"run ({names})"
    )


def attribution(point: SweepPoint) -> str:
    """One sentence on a long tail: its causes, or that none was seen."""
    found = causes(point)
    if found:
        return "; ".join(found)
    if point.server_cpu >= BUSY:
        return f"no outside cause: its core was {point.server_cpu:.0%} busy, queueing in the server"
    return (
        "no GC pause, late wake-up, CPU wait, steal or client stall large enough: the server's "
        f"and the kernel's own latency, not split further (its core {point.server_cpu:.0%} busy)"
    )
