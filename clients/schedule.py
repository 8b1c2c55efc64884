"""The open-loop schedule: messages sent when they are due, each stamped with that time and
with when it went out."""

import asyncio
from array import array
from bisect import bisect_right
from time import perf_counter_ns

from clients.arrivals import Arrivals
from clients.connection import EchoConnection

# Open loop: when the next message is due sooner than this, keep the loop spinning instead of
# sleeping, because both loops sleep in whole milliseconds and the oversleep would be
# measured as latency. So open-loop clients use a full core by design.
SPIN_BELOW_S = 0.002
# One tick sends for at most this long, then lets the loop run: when each send costs more than
# the gap between arrivals, sending every due message at once makes each tick's backlog larger
# than the last, and a tick begun before the window's end would overrun it by seconds.
TICK_BUDGET_NS = 1_000_000


class OpenLoopSchedule:
    """Sends on a schedule of due times, round-robin over connections, stamping each message
    with the time it was due and the time it went out (clients.connection times from each),
    and keeping how late each went out."""

    def __init__(self, connections: list[EchoConnection], arrivals: Arrivals) -> None:
        self.connections = connections
        self.arrivals = arrivals
        self.due_times = arrivals.next_block()
        self.position = 0  # index into due_times of the next message to send
        self.sent = 0
        self.lateness = array("q")  # per message: how long after it was due it went out
        self.started_ns = 0
        self.timer: asyncio.Handle | None = None

    def due(self, now_ns: int) -> int:
        """How many messages were due by `now_ns` (now: not before the last tick): sent, plus
        those due but not yet sent (exact within the current block; when the client is a
        whole block behind, the rest is estimated from the rate, and it has fallen far
        behind in any case)."""
        elapsed = now_ns - self.started_ns
        pending = bisect_right(self.due_times, elapsed, lo=self.position) - self.position
        if self.position + pending == len(self.due_times):
            beyond = elapsed - self.due_times[-1]
            pending += max(0, int(beyond / self.arrivals.interval_ns))
        return self.sent + pending

    def start(self) -> None:
        self.started_ns = perf_counter_ns()
        self.tick()

    def tick(self) -> None:
        started, connections, count = self.started_ns, self.connections, len(self.connections)
        now = perf_counter_ns()
        elapsed, budget_end = now - started, now + TICK_BUDGET_NS
        due_times, position = self.due_times, self.position
        if due_times[position] <= elapsed:
            lateness = self.lateness.append
            while due_times[position] <= elapsed:
                sent, due = perf_counter_ns(), started + due_times[position]
                lateness(sent - due)
                connection = connections[self.sent % count]
                if not connection.closing:
                    connection.send(sent, due)
                self.sent += 1
                position += 1
                if position == len(due_times):
                    due_times, position = self.arrivals.next_block(), 0
                if sent > budget_end:
                    break  # the rest next tick
            self.due_times = due_times
            self.position = position
        delay = (due_times[position] - (perf_counter_ns() - started)) / 1e9
        loop = asyncio.get_running_loop()
        if delay < SPIN_BELOW_S:
            self.timer = loop.call_soon(self.tick)
        else:
            self.timer = loop.call_later(delay - SPIN_BELOW_S / 2, self.tick)

    def stop(self) -> None:
        if self.timer:
            self.timer.cancel()
