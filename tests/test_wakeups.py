"""The server's late wake-ups: read from the kernel's scheduler trace (a real thread holding
the server's CPU is named), parsed without sockets, and named in the tail attribution."""

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.commands import start

from aionetbench.serverproc import ServerProcess, server_command
from aionetbench.wakeups import IDLE, Wakeup, Wakeups, summarise, wakeup_latencies
from bench.analyse.tails import attribution
from bench.measure.tracing import PREFIX, TRACEFS, WakeupTrace
from bench.store.reader import SweepPoint
from clients.judgement import woken_late

SERVER = 4242
TRACE = """\
# tracer: nop
  load-900   [001] d.s7. 100.000000: sched_waking: comm=python pid=4242 prio=120 target_cpu=000
  <idle>-0   [000] d..2. 100.000020: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=python next_pid=4242 next_prio=120
  python-4242 [000] d..2. 100.000100: sched_switch: prev_comm=python prev_pid=4242 prev_prio=120 prev_state=S ==> next_comm=kdamond.0 next_pid=77 next_prio=120
  load-900   [001] d.s7. 100.000200: sched_waking: comm=python pid=4242 prio=120 target_cpu=000
  load-900   [001] d.s7. 100.000300: sched_waking: comm=python pid=4242 prio=120 target_cpu=000
  kdamond.0-77 [000] d..2. 100.002200: sched_switch: prev_comm=kdamond.0 prev_pid=77 prev_prio=120 prev_state=R ==> next_comm=python next_pid=4242 next_prio=120
  python-4242 [000] d..2. 100.002300: sched_switch: prev_comm=python prev_pid=4242 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120
  load-900   [001] d.s7. 100.010000: sched_waking: comm=python pid=4242 prio=120 target_cpu=000
  <idle>-0   [000] d..2. 100.011000: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=python next_pid=4242 next_prio=120
  python-4242 [000] d..2. 100.020000: sched_switch: prev_comm=python prev_pid=4242 prev_prio=120 prev_state=R+ ==> next_comm=kworker/0:1 next_pid=55 next_prio=120
  kworker/0:1-55 [000] d..2. 100.020400: sched_switch: prev_comm=kworker/0:1 prev_pid=55 prev_prio=120 prev_state=I ==> next_comm=python next_pid=4242 next_prio=120
  load-900   [001] d.s7. 109.000000: sched_waking: comm=python pid=4242 prio=120 target_cpu=000
  <idle>-0   [000] d..2. 109.005000: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=python next_pid=4242 next_prio=120
"""


def test_each_wake_up_is_timed_from_its_first_waking_and_names_who_held_the_cpu() -> None:
    found = wakeup_latencies(TRACE.splitlines(), SERVER, (100 * 10**9, 101 * 10**9))
    assert found == [
        Wakeup(20.0, IDLE),
        Wakeup(2000.0, "kdamond.0"),
        Wakeup(1000.0, IDLE),
        Wakeup(400.0, "kworker/0:1"),  # preempted while running
    ]
    summary = summarise(found)
    assert (summary.count, summary.max_us) == (4, 2000.0)
    assert summary.late == (
        Wakeup(2000.0, "kdamond.0"),
        Wakeup(1000.0, IDLE),
        Wakeup(400.0, "kworker/0:1"),
    )
    assert wakeup_latencies(TRACE.splitlines(), 4243, (100 * 10**9, 101 * 10**9)) == []


BASE = SweepPoint(
    api="streams", loop="asyncio", transport="tcp", size=1024, concurrency=10, pipeline=1,
    rate=13_000, achieved_rate=13_000, p50_us=50, p99_us=1_300, duration_s=1.0, server_cpu=0.35,
)  # fmt: skip


def point(**changes: object) -> SweepPoint:
    return replace(BASE, **changes)  # type: ignore[arg-type]


def test_late_wake_ups_that_hold_up_enough_messages_are_the_tails_cause() -> None:
    late = (Wakeup(3000, "tokio-rt-worker"), Wakeup(1000, "kdamond.0"), Wakeup(700, IDLE))
    woken = point(wakeups=Wakeups(13_000, 30, 60, 3000, late))
    # (3.0 + 1.0 + 0.7 ms) x 13,000 msg/s / 0.65 idle: 94 messages, over 0.5% of 13,000.
    assert attribution(woken) == (
        "the server was kept from its CPU 3 times for 0.7-3.0 ms once woken or preempted (held "
        "by tokio-rt-worker in 1, kdamond.0 in 1, nothing: an idle CPU resumed late in 1): about "
        "94 messages held up"
    )
    few = point(wakeups=Wakeups(13_000, 30, 60, 1000, late[1:2]))  # 20 messages: not enough
    assert attribution(few).startswith("no GC pause, late wake-up")
    short = point(wakeups=Wakeups(13_000, 30, 60, 3000, (Wakeup(600, "kdamond.0"),)))
    assert attribution(short).startswith("no GC pause")  # under half the p99
    # At 400 msg/s a wake-up holds up at least the message that woke the server.
    slow = point(rate=400, achieved_rate=400, p50_us=100, p99_us=3000, server_cpu=0.2,
                 wakeups=Wakeups(400, 80, 500, 3200, (Wakeup(3200, "kdamond.0"), Wakeup(2000, "kdamond.0"))))  # fmt: skip
    assert attribution(slow).startswith("the server was kept from its CPU 2 times for 2.0-3.2 ms")


# Names itself, takes real-time priority on its CPU and, once told, sends the server a
# message and holds the CPU 60 ms before reading the echo: the server, woken by the message,
# cannot run until then, however the test's own process is scheduled.
HOLDER = """
import ctypes, os, socket, sys, time
ctypes.CDLL(None).prctl(15, b"cpu-holder", 0, 0, 0)
peer = socket.create_connection((sys.argv[1], int(sys.argv[2])))
os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
print("ready", flush=True)
sys.stdin.readline()
peer.sendall(b"ping" * 256)
end = time.monotonic() + 0.06
while time.monotonic() < end:
    pass
echoed = b""
while len(echoed) < 1024:
    echoed += peer.recv(4096)
print("echoed" if echoed == b"ping" * 256 else "wrong echo", flush=True)
"""


@pytest.mark.live
@pytest.mark.skipif(
    os.geteuid() != 0 or not (TRACEFS / "instances").is_dir(),
    reason="tracing needs root and tracefs",
)
def test_a_thread_holding_the_servers_cpu_makes_a_late_wake_up_named_by_the_trace(
    tmp_path: Path,
) -> None:
    cpu = max(os.sched_getaffinity(0))
    command = server_command("protocol", loop="asyncio")
    with ServerProcess(command, cpus=[cpu], stderr_path=tmp_path / "server.err") as server:
        address = [server.endpoint.host, str(server.endpoint.port)]
        holder = start(["taskset", "-c", str(cpu), sys.executable, "-c", HOLDER, *address],
                       stdin=subprocess.PIPE)  # fmt: skip
        try:
            assert holder.stdout is not None and holder.stdin is not None
            assert holder.stdout.readline() == "ready\n"
            started = time.monotonic_ns()
            with WakeupTrace(server.pid, frozenset({cpu})) as trace:
                holder.stdin.write("go\n")
                holder.stdin.flush()
                assert holder.stdout.readline() == "echoed\n"
                wakeups = trace.stop([started, time.monotonic_ns()])
                assert not (TRACEFS / "instances" / f"{PREFIX}{os.getpid()}").exists()
        finally:
            holder.kill()
            holder.wait()
    assert wakeups is not None and wakeups.count >= 1
    longest = wakeups.late[0]
    assert longest.held_by == "cpu-holder" and longest.latency_us >= 20_000, wakeups


@pytest.mark.live
@pytest.mark.skipif(
    os.geteuid() != 0 or not (TRACEFS / "instances").is_dir(),
    reason="tracing needs root and tracefs",
)
def test_an_instance_left_by_a_run_killed_outright_is_removed() -> None:
    ended = start(["true"])
    ended.wait()
    stale = TRACEFS / "instances" / f"{PREFIX}{ended.pid}"
    stale.mkdir()
    (stale / "events" / "sched" / "sched_switch" / "enable").write_text("1\n")
    with WakeupTrace(os.getpid(), frozenset({0})):
        assert not stale.exists()


def test_near_saturation_a_late_wake_up_is_a_cause_but_the_backlog_is_the_servers() -> None:
    """At 45,000 msg/s with its core 95% busy, one 1 ms wake-up: 45 messages arrive while
    the server waits, 450 before it has cleared the backlog (0.5% of the window is 225). It
    names the tail's cause; it does not make the point another thread's (interfered)."""
    wakeups = Wakeups(5_000, 30.0, 60.0, 1_000.0, (Wakeup(1_000.0, "kdamond.0"),))
    assert woken_late(wakeups, 45_000, 1_500, 0.95, 1.0) == ([wakeups.late[0]], 450.0)
    assert woken_late(wakeups, 45_000, 1_500, 0.95, 1.0, backlog=False) == ([], 0.0)
