"""Sampling the machine before a run, in the spirit of `pyperf system show`: which threads
keep each CPU busy, steal, interrupts, the idle driver and guest halt polling, transparent
huge pages, the frequency governor and isolated CPUs (bench.store.machine holds what was
found and what a user could tune). `bench run` records it in the results (the report's
environment shows it) and, on a machine with more than two CPUs, pins the server to the
quietest one."""

import os
import time
from pathlib import Path

from aionetbench.procstat import steal_s
from aionetbench.threads import ran_on, snapshot
from bench.store.machine import SystemCheck

SAMPLE_S = 2.0
RUN_SAMPLE_S = 0.5  # what `bench run` spends on it before measuring
BUSY_MS = 1.0  # a thread that ran less than this over the sample is not listed


def read(path: str) -> str:
    """A /sys or /proc file's first line, or "?" where there is none."""
    try:
        return Path(path).read_text().strip().splitlines()[0]
    except (OSError, IndexError):
        return "?"


def interrupts() -> dict[int, int]:
    """Interrupts each CPU has handled since boot (/proc/interrupts)."""
    try:
        lines = Path("/proc/interrupts").read_text().splitlines()
    except OSError:
        return {}
    cpus = [int(name.removeprefix("CPU")) for name in lines[0].split()]
    totals = dict.fromkeys(cpus, 0)
    for line in lines[1:]:
        counts = line.split()[1 : 1 + len(cpus)]
        for cpu, count in zip(cpus, counts, strict=False):
            if count.isdigit():
                totals[cpu] += int(count)
    return totals


def check(seconds: float = SAMPLE_S) -> SystemCheck:
    """Sample the machine for `seconds` (this process sleeping meanwhile)."""
    cpus = sorted(os.sched_getaffinity(0))
    before, steal, irqs = snapshot(), steal_s(), interrupts()
    time.sleep(seconds)
    after, steal_after, irqs_after = snapshot(), steal_s(), interrupts()
    busy = {
        cpu: [
            (r.name, round(r.ms, 1)) for r in ran_on(before, after, {cpu}, {os.getpid()}, BUSY_MS)
        ]
        for cpu in cpus
    }
    return SystemCheck(
        seconds=seconds,
        cpus=cpus,
        busy=busy,
        steal_share=(steal_after - steal) / (seconds * len(cpus)),
        interrupts_per_s={
            cpu: (irqs_after.get(cpu, 0) - irqs.get(cpu, 0)) / seconds for cpu in cpus
        },
        cpuidle=read("/sys/devices/system/cpu/cpuidle/current_driver"),
        halt_poll_ns=read("/sys/module/haltpoll/parameters/guest_halt_poll_ns"),
        thp=read("/sys/kernel/mm/transparent_hugepage/enabled"),
        governor=read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        isolated=read("/sys/devices/system/cpu/isolated").replace("?", ""),
    )


def quietest_cpu(found: SystemCheck) -> int | None:
    """With more than two CPUs, the one whose other threads ran least (the server's);
    None on two, where there is no choice."""
    if len(found.cpus) <= 2:
        return None
    return min(found.cpus, key=lambda cpu: (found.busy_ms(cpu), found.interrupts_per_s.get(cpu, 0)))
