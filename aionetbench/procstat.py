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


def usage(pid: int) -> dict[str, float]:
    """A process's CPU seconds (user, system), context switches and minor page faults so far,
    as psutil reads them (/proc/PID/stat and /proc/PID/status), and its threads' wait for a
    CPU; empty if the process is gone. Used where psutil may not be installed (aionetbench.agent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    after_name = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
    switches = dict(
        line.split(":", 1) for line in status.splitlines() if line.endswith(tuple("0123456789"))
    )
    return {
        "user_s": int(after_name[11]) / TICKS_PER_S,  # utime: field 14 of stat
        "system_s": int(after_name[12]) / TICKS_PER_S,
        "minor_faults": int(after_name[7]),  # minflt: field 10 of stat
        "voluntary": int(switches.get("voluntary_ctxt_switches", 0)),
        "involuntary": int(switches.get("nonvoluntary_ctxt_switches", 0)),
        "run_delay_s": run_delay_s(pid),
    }


def peak_rss(pid: int) -> int:
    """The process's peak resident set size in bytes (Linux VmHWM), 0 if unknown."""
    return status_bytes(pid, "VmHWM")


def rss(pid: int) -> int:
    """The process's resident set size now, in bytes (VmRSS), 0 if unknown."""
    return status_bytes(pid, "VmRSS")


def status_bytes(pid: int, field: str) -> int:
    """A size in /proc/PID/status (given there in kB), in bytes; 0 if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
