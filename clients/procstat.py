"""What else a tail may belong to, read from Linux's /proc: how long a process's threads were
runnable but waiting for a CPU (schedstat), and the machine's steal time (/proc/stat).

The native load generator reads the same files the same way (load.c). Where a file cannot be
read (another kernel, a process gone), the figure is 0: unknown is never a cause.
"""

import os
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
STEAL_FIELD = 8  # in /proc/stat's `cpu` line: user nice system idle iowait irq softirq steal


def run_delay_s(pid: int | str = "self") -> float:
    """Seconds all threads of `pid` spent runnable but not running, since they started."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def steal_s() -> float:
    """Seconds the hypervisor ran something else while this machine's CPUs wanted to run,
    summed over CPUs, since boot."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
        return int(fields[STEAL_FIELD]) / TICKS_PER_S
    except (OSError, IndexError, ValueError):
        return 0.0
