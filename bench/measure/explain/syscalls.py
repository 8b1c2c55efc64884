"""System calls per request, counted with perf (in the kernel) or strace (ptrace), around
an N and a 2N run and differenced."""

import os
import re
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.measure.explain.driver import Driver, ExplainFailed, differenced
from bench.store.explained import LOOP_PASSES

ATTACH_TIMEOUT = 10.0
COUNTER_PACKAGES = "linux-perf or strace"  # the Debian packages that bring a counter
OPEN_DRAIN_S = 0.2  # open load well under capacity: what is in flight comes back at once


def parse_strace_summary(text: str) -> tuple[dict[str, int], dict[str, int]]:
    """Calls and errors by system call name from `strace -c` output."""
    calls: dict[str, int] = {}
    errors: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split()
        # "% time  seconds  usecs/call  calls  [errors]  syscall"
        if len(fields) in (5, 6) and re.fullmatch(r"[\d.]+", fields[0]) and fields[-1] != "total":
            calls[fields[-1]] = int(fields[3])
            if len(fields) == 6:
                errors[fields[-1]] = int(fields[4])
    return calls, errors


@contextmanager
def strace_attached(pid: int, output: Path) -> Iterator[None]:
    """strace -c -f attached to `pid` for the duration of the block; the summary goes to
    `output` when it detaches."""
    tracer = subprocess.Popen(
        ["strace", "-c", "-f", "-p", str(pid), "-o", str(output)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + ATTACH_TIMEOUT
        while True:
            timeout = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([tracer.stderr], [], [], timeout)
            line = tracer.stderr.readline() if ready else ""  # type: ignore[union-attr]
            if "attached" in line:
                break
            if not ready or not line:
                why = line.strip() or "timed out"
                raise ExplainFailed(f"strace could not attach to {pid}: {why}")
        yield
    finally:
        stop(tracer)


# The system calls counted by name with perf (the others are counted together, as "other"):
# every call an echo server makes per request on the loops here, and those of the fresh
# process state `bench.measure.run.warm` avoids. perf counts them in the kernel, one filtered
# instance of the raw_syscalls:sys_enter tracepoint each: cheap to set up and to run. (perf
# stat over the ~360 syscalls:sys_enter_* tracepoints takes 13 s to set up on this
# machine's kernel; `perf trace` writes every call to a buffer, which slows the server
# enough to change how often `sock_*` has to wait and register.)
COUNTED_CALLS = (
    "read", "write", "readv", "writev", "recvfrom", "sendto", "recvmsg", "sendmsg",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl", "poll", "ppoll", "select",
    "ioctl", "fcntl", "accept4", "close", "shutdown", "setsockopt", "getsockopt",
    "mmap", "munmap", "mremap", "brk", "madvise", "futex", "membarrier", "getpid",
    "rt_sigprocmask", "sched_yield", "getrandom", "eventfd2", "io_uring_enter",
)  # fmt: skip
OTHER = "other"
SYSCALL_HEADERS = (  # where the kernel's system call numbers are (Debian's linux-libc-dev)
    "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
    "/usr/include/aarch64-linux-gnu/asm/unistd.h",
    "/usr/include/asm-generic/unistd.h",
)


def syscall_numbers() -> dict[str, int]:
    """System call name -> number, from the kernel headers ({} without them)."""
    for header in map(Path, SYSCALL_HEADERS):
        if header.exists():
            found = re.findall(r"#define __NR_(\w+)\s+(\d+)\b", header.read_text())
            return {name: int(number) for name, number in found}
    return {}


def perf_events(numbers: dict[str, int]) -> tuple[list[str], list[str]]:
    """perf stat arguments: one filtered raw_syscalls:sys_enter per counted call, then an
    unfiltered one (the total); and the names of the counts in the order perf prints them."""
    names = [name for name in COUNTED_CALLS if name in numbers]
    arguments: list[str] = []
    for name in names:
        arguments += ["-e", "raw_syscalls:sys_enter", "--filter", f"id == {numbers[name]}"]
    return [*arguments, "-e", "raw_syscalls:sys_enter"], [*names, OTHER]


@contextmanager
def perf_counting(pid: int, output: Path, events: list[str]) -> Iterator[None]:
    """perf stat counting `pid`'s system calls with `events` (from `perf_events`), enabled
    exactly for the duration of the block (perf's control FIFO acknowledges each switch)."""
    control, ack = output.with_name(output.name + ".ctl"), output.with_name(output.name + ".ack")
    os.mkfifo(control)
    os.mkfifo(ack)
    counter = subprocess.Popen(
        ["perf", "stat", *events, "-p", str(pid), "-x,", "-o", str(output),
         "--control", f"fifo:{control},{ack}", "-D", "-1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with open(control, "w") as commands, open(ack) as answers:

            def switch(state: str) -> None:
                commands.write(f"{state}\n")
                commands.flush()
                ready, _, _ = select.select([answers], [], [], ATTACH_TIMEOUT)
                if not ready or "ack" not in answers.readline():
                    raise ExplainFailed(f"perf did not {state} counting for {pid}")

            switch("enable")
            yield
            switch("disable")
    finally:
        stop(counter)


def stop(tool: subprocess.Popen) -> None:
    """Stop a tracer or counter the way that makes it write its summary: SIGINT."""
    tool.send_signal(signal.SIGINT)
    try:
        tool.wait(timeout=10)
    except subprocess.TimeoutExpired:
        tool.kill()
        tool.wait()


def parse_perf_counts(text: str, names: list[str]) -> dict[str, int]:
    """Calls by name from `perf stat -x,` output over `perf_events` (printed in their
    order); the total becomes the calls not counted by name."""
    counts = [
        int(fields[0])
        for fields in (line.split(",") for line in text.splitlines())
        if len(fields) > 2 and fields[2].startswith("raw_syscalls:") and fields[0].isdigit()
    ]
    if len(counts) != len(names):
        raise ExplainFailed(f"perf counted {len(counts)} events, not {len(names)}")
    by_name = dict(zip(names, counts, strict=True))
    by_name[OTHER] -= sum(count for name, count in by_name.items() if name != OTHER)
    return {name: count for name, count in by_name.items() if count}


def perf_works() -> bool:
    """Whether perf can count system calls by number here (it needs tracefs, root, and the
    kernel headers that give the numbers)."""
    numbers = syscall_numbers()
    if shutil.which("perf") is None or "getpid" not in numbers:
        return False
    probe = subprocess.run(
        ["perf", "stat", "-e", "raw_syscalls:sys_enter", "--filter",
         f"id == {numbers['getpid']}", "-x,", "true"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return probe.returncode == 0


def syscall_counter() -> str | None:
    """`perf` where it works (it counts without stopping the server, so timing-dependent
    counts stay true), else `strace` (ptrace stops slow the server: a sock_* read then
    rarely has to wait, and registers with the selector less often), else None."""
    if perf_works():
        return "perf"
    return "strace" if shutil.which("strace") else None


def counted_calls(
    driver: Driver, output: Path, counter: str, work: Callable[[], int]
) -> tuple[int, dict[str, int], dict[str, int]]:
    """The server's system calls (and with strace, failed ones) while `work` runs, and the
    number of messages `work` says it made."""
    if counter == "perf":
        events, names = perf_events(syscall_numbers())
        with perf_counting(driver.server.pid, output, events):
            messages = work()
        return messages, parse_perf_counts(output.read_text(), names), {}
    with strace_attached(driver.server.pid, output):
        messages = work()
    return messages, *parse_strace_summary(output.read_text())


def traced_syscalls(
    driver: Driver, workdir: Path, n: int, counter: str, label: str = "closed"
) -> tuple[dict[str, float], dict[str, float] | None]:
    """System calls per request (and with strace, failed ones), counted around an N and a 2N
    run of exact echoes and differenced; `label` names the counts' files in `workdir`."""
    totals = [
        counted_calls(
            driver, workdir / f"{counter}.{label}{k}", counter, lambda k=k: driver.echoes(k)
        )
        for k in (n, 2 * n)
    ]
    (_, calls_n, errors_n), (_, calls_2n, errors_2n) = totals
    failed = differenced(errors_n, errors_2n, n) if counter == "strace" else None
    per_request = differenced(calls_n, calls_2n, n)
    # Waits depend on timing (how many connections are ready per wait), so a difference of
    # two runs is mostly noise and can even be negative: they are averaged over both runs
    # instead, where the few waits of connecting and closing vanish among thousands.
    for name in LOOP_PASSES:
        per_request.pop(name, None)
        waits = calls_n.get(name, 0) + calls_2n.get(name, 0)
        if waits:
            per_request[name] = round(waits / (3 * n), 4)
    return per_request, failed


def open_load_calls(
    driver: Driver, workdir: Path, rate: float, seconds: float, counter: str
) -> dict[str, float]:
    """System calls per message under open load at `rate` (Poisson arrivals, no warm-up),
    around a window of `seconds` and one of twice that, differenced by the messages each
    answered: where reads can batch and writes can buffer, as closed loop at depth 1 cannot."""

    def window(length: float) -> int:
        return driver.run(rate=rate, duration=length, warmup=0.0, drain=OPEN_DRAIN_S).requests

    (m1, calls_1, _), (m2, calls_2, _) = (
        counted_calls(
            driver, workdir / f"{counter}.open{k}", counter, lambda k=k: window(k * seconds)
        )
        for k in (1, 2)
    )
    if m2 <= m1:
        raise ExplainFailed(f"{driver.cell.name}: open load answered no more in a longer window")
    return differenced(calls_1, calls_2, m2 - m1)


def counter_note(counter: str | None) -> str | None:
    """One line for the user when system calls cannot be counted, or only with strace."""
    if counter is None:
        return f"neither perf nor strace can count system calls here (Debian packages {COUNTER_PACKAGES}): those columns are skipped"
    if counter == "strace":
        return "perf cannot count system calls here, so strace does: its stops slow the server, which changes timing-dependent counts (epoll_ctl of sock_*)"
    return None
