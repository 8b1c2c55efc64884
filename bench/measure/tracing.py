"""Records a server's wake-ups over one run from the kernel's scheduler trace events, in a
tracefs instance of our own (so another user of tracing is left alone): `sched_waking` of the
server's thread, wherever it fires, and every `sched_switch` on the server's CPUs.

The kernel writes the events to a per-CPU ring buffer and nothing is read until the run ends,
so the cost while measuring is the events' own (docs/open-loop.md has the figure). Root
only; without tracefs or root nothing is recorded, and unknown is never a cause.
"""

import os
from pathlib import Path
from types import TracebackType

from aionetbench.wakeups import Wakeups, summarise, wakeup_latencies

TRACEFS = Path("/sys/kernel/tracing")
PREFIX = "aionetbench-"
BUFFER_KB = 8192  # per CPU: several seconds of a server woken 20,000 times a second
EVENTS = ("sched_waking", "sched_switch")


class WakeupTrace:
    """Tracing of one server process's wake-ups; `stop` reads them and removes the instance.
    A context manager, so that no instance outlives the run (Ctrl-C included)."""

    def __init__(self, pid: int, cpus: frozenset[int], enabled: bool = True) -> None:
        self.pid = pid
        self.path: Path | None = TRACEFS / "instances" / f"{PREFIX}{os.getpid()}"
        if not enabled:
            self.path = None
            return
        remove_stale()
        try:
            self.path.mkdir(exist_ok=True)
            write(self.path / "trace_clock", "mono")  # CLOCK_MONOTONIC, as the window's times
            write(self.path / "buffer_size_kb", str(BUFFER_KB))
            events = self.path / "events" / "sched"
            write(events / "sched_waking" / "filter", f"pid == {pid}")
            write(
                events / "sched_switch" / "filter", " || ".join(f"CPU == {c}" for c in sorted(cpus))
            )
            for event in EVENTS:
                write(events / event / "enable", "1")
            write(self.path / "tracing_on", "1")
        except OSError:
            self.close()

    def stop(self, window_ns: list[int]) -> Wakeups | None:
        """The wake-ups inside the window; None if nothing was traced or events were lost."""
        if self.path is None or len(window_ns) != 2:
            self.close()
            return None
        try:
            write(self.path / "tracing_on", "0")
            if lost_events(self.path):
                return None
            with open(self.path / "trace") as trace:
                found = wakeup_latencies(trace, self.pid, (window_ns[0], window_ns[1]))
        except OSError:
            return None
        finally:
            self.close()
        return summarise(found)

    def close(self) -> None:
        if self.path is not None:
            remove(self.path)
            self.path = None

    def __enter__(self) -> "WakeupTrace":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write(path: Path, text: str) -> None:
    path.write_text(text + "\n")


def lost_events(instance: Path) -> bool:
    """Whether any CPU's ring buffer overflowed: then some wake-ups are missing."""
    for stats in instance.glob("per_cpu/cpu*/stats"):
        for line in stats.read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("overrun", "dropped events") and int(value.split()[0] or 0):
                return True
    return False


def remove(instance: Path) -> None:
    """Turn an instance's events off and remove it (the kernel frees its buffers)."""
    try:
        write(instance / "tracing_on", "0")
        for event in EVENTS:
            write(instance / "events" / "sched" / event / "enable", "0")
        instance.rmdir()
    except OSError:
        pass


def remove_stale() -> None:
    """Instances left by a run that was killed outright: they would go on tracing."""
    try:
        instances = list((TRACEFS / "instances").glob(f"{PREFIX}*"))
    except OSError:
        return
    for instance in instances:
        owner = instance.name.removeprefix(PREFIX)
        if owner.isdigit() and int(owner) != os.getpid() and not Path(f"/proc/{owner}").exists():
            remove(instance)
