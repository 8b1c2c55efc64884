"""How late the kernel ran a server once something woke it, and what held its CPU meanwhile,
read from the scheduler's trace events (`sched_waking` for the server, `sched_switch` on its
CPU; bench.measure.tracing records them).

Why: on this kind of machine a server sleeping in epoll is woken by each message, and now
and then its CPU is busy with one of the machine's own threads (kdamond.0, the VM's agent) or
halted and slow to come back. Every message that arrives meanwhile waits, and `schedstat`
counts none of it when the CPU was idle (docs/open-loop.md). Pure functions: tests feed them
trace text.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

LATE_WAKEUP_US = 250.0  # a wake-up this late is kept by name; faster ones only counted
KEPT = 40  # at most this many late wake-ups are kept, the longest
IDLE = "idle"  # the server's CPU was halted when woken: the hypervisor was slow to resume it


@dataclass(frozen=True)
class Wakeup:
    """One late wake-up: how long from being woken (or preempted) to running, and the thread
    that ran longest on the server's CPU meanwhile (IDLE if none)."""

    latency_us: float
    held_by: str


@dataclass(frozen=True)
class Wakeups:
    """A server's wake-ups over a window: how many, their latency, and the late ones."""

    count: int
    p50_us: float
    p99_us: float
    max_us: float
    late: tuple[Wakeup, ...] = ()  # LATE_WAKEUP_US or more, longest first, at most KEPT


def wakeup_latencies(lines: Iterable[str], pid: int, window_ns: tuple[int, int]) -> list[Wakeup]:
    """Each wake-up of thread `pid` inside the window (CLOCK_MONOTONIC ns, the trace clock
    `mono`), from the trace's text: its latency, and who held the server's CPU meanwhile. A
    preemption counts as a wake-up at once: the server waits to run again the same way."""
    found = []
    woken_at: float | None = None
    held: Counter[str] = Counter()
    running: str | None = None  # the fields of the last switch on the server's CPU
    switched_at = 0.0
    start, end = window_ns[0] / 1e9, window_ns[1] / 1e9
    waking, switch, preempted = f" pid={pid} ", f" next_pid={pid} ", f" prev_pid={pid} "
    for line in lines:
        event = parse_event(line)
        if event is None:
            continue
        at, name, rest = event
        if name == "sched_waking":
            if woken_at is None and waking in rest:
                woken_at, held = at, Counter()
            continue
        if woken_at is not None and running is not None:
            held[next_comm(running)] += at - max(switched_at, woken_at)
        switched_at, running = at, rest
        if preempted in rest and " prev_state=R" in rest:  # runnable, as if woken now
            woken_at, held = at, Counter()
        if switch not in rest:
            continue
        running = None  # the server runs: nothing holds it up
        if woken_at is not None and start <= woken_at <= end:
            holder = held.most_common(1)[0][0] if held else IDLE
            found.append(Wakeup(round(1e6 * (at - woken_at), 1), holder))
        woken_at = None
    return found


def next_comm(switch: str) -> str:
    """The thread a `sched_switch` switched to, IDLE for the idle task."""
    name = switch.rpartition(" next_comm=")[2].rpartition(" next_pid=")[0]
    return IDLE if name.startswith("swapper") else name


def parse_event(line: str) -> tuple[float, str, str] | None:
    """A trace line's time (s), event name and fields; None for a comment or another event.
    Split by hand, not by a regular expression: a run has tens of thousands of lines."""
    head, sep, rest = line.partition(": sched_")
    if not sep:
        return None
    name, _, fields = rest.partition(": ")
    try:
        return float(head.rpartition(" ")[2]), "sched_" + name, " " + fields.rstrip("\n") + " "
    except ValueError:
        return None


def summarise(wakeups: list[Wakeup]) -> Wakeups:
    """The count, median, p99 and worst of `wakeups`, keeping the late ones."""
    if not wakeups:
        return Wakeups(0, 0.0, 0.0, 0.0)
    ordered = sorted(w.latency_us for w in wakeups)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    late = sorted(
        (w for w in wakeups if w.latency_us >= LATE_WAKEUP_US), key=lambda w: -w.latency_us
    )
    return Wakeups(len(ordered), at(0.5), at(0.99), ordered[-1], tuple(late[:KEPT]))
