"""What an open-loop point can and cannot say, judged from its Summary: saturated, limited by
the load generator, unreliable, interfered with. The thresholds live here and nowhere else;
the sweep, the results file and the report all ask `point_flags`.
"""

import math
from dataclasses import dataclass

from aionetbench.wakeups import Wakeup, Wakeups
from clients.summary import Summary, Waits

SATURATED_SHARE = 0.97  # replies under this share of the arrivals: the server fell behind
# ...and by at least this many messages: in a short window at a low rate, a few replies still
# in flight when it closes are already 3%, and they are not a backlog.
SATURATED_BACKLOG = 25
UNRELIABLE_HALF_WIDTH = 0.10  # p99's 95% interval wider than +-10%: not an exact figure
# Answering (or sending) more than this share of the window's arrivals: a backlog from before
# the window, sent when the load generator caught up, not the server's steady state.
OVER_ANSWER = 1.02
# Where a tail comes from: a p99 over LONG_TAIL p50s is worth explaining, and a cause present
# for CAUSE_SHARE of the window (the p99 is the slowest 1%) can account for it. Steal is read
# in 10 ms ticks summed over CPUs, so one tick a second is no cause: it needs STEAL_SHARE.
LONG_TAIL = 5.0
CAUSE_SHARE = 0.005
STEAL_SHARE = 0.02
# A server that answered nothing this long with messages in flight was stopped or stalled:
# the run measured that, not the server (a GC pause here is milliseconds; a fresh server's
# slowest start is well under this).
SILENCE_LIMIT_S = 0.5
# Past this busy share a backlog the server must clear takes no longer: the tail is its own.
MIN_IDLE_SHARE = 0.1


@dataclass(frozen=True)
class PointFlags:
    """What one open-loop point can and cannot say."""

    saturated: bool  # the server answered under 97% of the arrivals (and 25 messages)
    fell_behind: bool  # the load generator could not keep to its schedule: its limit
    stalled: bool  # it kept to it but for a stall long enough to make the tail its own
    unreliable: bool  # the p99's 95% interval is wider than +-10%, or unknown
    caught_up: bool = False  # it answered or sent over OVER_ANSWER of the arrivals: a backlog
    # A long tail that another thread, the hypervisor or the client can make: waits for a
    # CPU, steal, or the server kept from its CPU once woken (aionetbench.wakeups).
    interfered: bool = False

    @property
    def client_limited(self) -> bool:
        """The point measured the load generator, not the server."""
        return self.fell_behind or self.stalled or self.caught_up

    @property
    def stops_climbing(self) -> bool:
        """A higher load would saturate the server or the client again; a stall passes."""
        return self.saturated or self.fell_behind or self.caught_up

    @property
    def names(self) -> list[str]:
        return flag_names(self.saturated, self.client_limited, self.unreliable, self.interfered)


def flag_names(
    saturated: bool, client_limited: bool, unreliable: bool, interfered: bool = False
) -> list[str]:
    """A point's flags as the tables print them."""
    flags = (
        ("saturated", saturated),
        ("client-limited", client_limited),
        ("unreliable p99", unreliable),
        ("interfered", interfered),
    )
    return [name for name, on in flags if on]


def point_flags(summary: Summary, wakeups: Wakeups | None = None) -> PointFlags:
    """What this open-loop point can say (closed loop: never saturated nor unreliable), with
    the server's wake-ups where they were traced."""
    schedule = summary.schedule
    if schedule is None:
        return PointFlags(False, False, False, False)
    arrived = schedule.scheduled_rate or schedule.target_rate
    backlog = (arrived - schedule.achieved_rate) * summary.duration_s
    half_width = p99_half_width(summary.latency.p99, schedule.p99_ci_us)
    return PointFlags(
        saturated=schedule.achieved_rate < SATURATED_SHARE * arrived
        and backlog >= SATURATED_BACKLOG,
        fell_behind=schedule.fell_behind,
        stalled=schedule.client_stalled,
        unreliable=half_width is None or half_width > UNRELIABLE_HALF_WIDTH,
        caught_up=max(schedule.achieved_rate, schedule.sent_rate) > OVER_ANSWER * arrived,
        interfered=bool(summary_interference(summary))
        or bool(woken_late_summary(summary, wakeups)),
    )


def why_failed(summary: Summary) -> str | None:
    """Why a run says nothing about the server, or None: echoes that were wrong or missing,
    or a server silent for SILENCE_LIMIT_S with messages in flight."""
    if summary.errors:
        return f"{summary.errors} echo errors: {summary.first_error}"
    if summary.silent_s >= SILENCE_LIMIT_S:
        return (
            f"the server answered nothing for {summary.silent_s:.1f} s with messages in flight "
            "(stopped or stalled)"
        )
    return None


def long_tail(p50_us: float, p99_us: float) -> bool:
    """A tail worth explaining."""
    return p99_us > LONG_TAIL * p50_us


def summary_interference(summary: Summary) -> list[str]:
    """What besides the server may have made a long tail (nothing if the tail is short)."""
    if not long_tail(summary.latency.p50, summary.latency.p99) or summary.waits is None:
        return []
    return interference(summary.waits, summary.duration_s)


def woken_late_summary(summary: Summary, wakeups: Wakeups | None) -> list[Wakeup]:
    """`woken_late` for a point's Summary (nothing if the tail is short), counting only the
    messages that arrived while the server was kept from its CPU: then the other thread
    made the tail by itself. Near saturation the backlog after it, which a busy server takes
    long to clear, is the server's own margin, and the point stays the server's verdict
    (else every point near a knee is interfered on this machine and no knee narrows)."""
    latency = summary.latency
    if wakeups is None or not long_tail(latency.p50, latency.p99) or summary.schedule is None:
        return []
    busy = summary.server.cpu if summary.server is not None else 0.0
    rate = summary.schedule.achieved_rate
    return woken_late(wakeups, rate, latency.p99, busy, summary.duration_s, backlog=False)[0]


def woken_late(
    wakeups: Wakeups,
    rate: float,
    p99_us: float,
    server_busy: float,
    window_s: float,
    backlog: bool = True,
) -> tuple[list[Wakeup], float]:
    """The server's wake-ups (or preemptions) of at least half the p99 and about how many
    messages they held up, if that is CAUSE_SHARE of the window's; else none. Each holds up
    the messages that arrive meanwhile and, with `backlog`, those after them while the server
    clears it: about rate x latency / (its core's idle share); at least the one that woke it."""
    slow = [w for w in wakeups.late if w.latency_us >= p99_us / 2]
    idle_share = max(1.0 - server_busy, MIN_IDLE_SHARE) if backlog else 1.0
    held = sum(max(1.0, rate * w.latency_us / 1e6 / idle_share) for w in slow)
    if not slow or held < CAUSE_SHARE * rate * window_s:
        return [], 0.0
    return slow, held


def interference(waits: Waits, window_s: float) -> list[str]:
    """Which waits were present long enough to make a 1% tail: another process on the
    server's CPU, the hypervisor, or the load generator waiting for its own CPU."""
    return [text for text, _ in interference_on(waits, window_s)]


def interference_on(waits: Waits, window_s: float) -> list[tuple[str, str | None]]:
    """`interference`, each with whose CPU it was on: "server", "client", or None (steal)."""
    window_ms = 1000 * window_s
    if window_ms <= 0:
        return []
    causes = (
        (f"the server waited {waits.server_wait_ms:,.1f} ms for its CPU", "server",
         waits.server_wait_ms >= CAUSE_SHARE * window_ms),
        (f"the hypervisor stole {waits.steal_ms:,.0f} ms", None,
         waits.steal_ms >= STEAL_SHARE * window_ms),
        (f"the load generator waited {waits.client_wait_ms:,.1f} ms for its CPU", "client",
         waits.client_wait_ms >= CAUSE_SHARE * window_ms),
    )  # fmt: skip
    return [(text, cpu) for text, cpu, present in causes if present]


def p99_half_width(p99: float, interval: tuple[float | None, float | None]) -> float | None:
    """The larger side of the p99's 95% interval, relative to the p99; None if unknown."""
    low, high = interval
    if low is None or high is None or p99 <= 0 or math.isnan(low) or math.isnan(high):
        return None
    return max(p99 - low, high - p99) / p99
