"""Which other threads ran on given CPUs over a stretch of time, and for how long, from
/proc: each thread's run time (`schedstat`, nanoseconds) and the CPU it last ran on (`stat`).

A snapshot of every thread costs about 5 ms here (110 threads), so one before and one after
each measured point is cheap enough to leave on. A thread's CPU is the one it ran on last:
exact for the per-CPU kernel threads (ksoftirqd/N, kworker/N:M), an approximation for those
that move (kdamond.0, the VM's agent). Threads that started or ended in between (the load
generator's own workers) are not in both snapshots and so never named.
"""

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Thread:
    pid: int
    name: str
    cpu: int  # the CPU it last ran on
    run_ns: int  # its run time so far


@dataclass(frozen=True)
class Ran:
    """A thread that ran on one of the CPUs watched: its name, that CPU and how long (ms)."""

    name: str
    cpu: int
    ms: float


def snapshot() -> dict[int, Thread]:
    """Every thread on the machine, by thread id."""
    threads = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue  # ended meanwhile
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as stat:
                    text = stat.read()
                with open(f"/proc/{pid}/task/{tid}/schedstat") as schedstat:
                    run_ns = int(schedstat.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            name = text[text.index("(") + 1 : text.rindex(")")]
            cpu = int(text[text.rindex(")") + 2 :].split()[36])  # field 39: processor
            threads[int(tid)] = Thread(int(pid), name, cpu, run_ns)
    return threads


def ran_on(
    before: dict[int, Thread],
    after: dict[int, Thread],
    cpus: set[int],
    excluded_pids: set[int],
    at_least_ms: float = 0.5,
) -> list[Ran]:
    """The threads (not of `excluded_pids`) that ran at least `at_least_ms` between the two
    snapshots and last ran on one of `cpus`, longest first."""
    found = []
    for tid, now in after.items():
        then = before.get(tid)
        if then is None or now.pid in excluded_pids:
            continue
        ms = (now.run_ns - then.run_ns) / 1e6
        if ms >= at_least_ms and now.cpu in cpus:
            found.append(Ran(now.name, now.cpu, ms))
    return sorted(found, key=lambda ran: -ran.ms)
