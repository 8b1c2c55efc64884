"""Naming what interfered: the other threads that ran on the server's and the load
generator's CPUs, read from /proc, and the tail attribution that names them."""

import os
import sys
from dataclasses import replace

import pytest
from helpers.commands import start

from aionetbench.threads import ran_on, snapshot
from bench.analyse.tails import attribution
from bench.store.reader import SweepPoint
from clients.summary import Waits

# Names itself and says so, waits a little, runs 0.2 s of CPU time, then sleeps.
BUSY = """
import ctypes, time
ctypes.CDLL(None).prctl(15, b"busy-neighbour", 0, 0, 0)
print("ready", flush=True)
time.sleep(0.2)
end = time.process_time() + 0.2
while time.process_time() < end:
    pass
print("done", flush=True)
time.sleep(30)
"""


@pytest.mark.live
def test_a_thread_busy_on_a_watched_cpu_is_named_with_its_time() -> None:
    cpu = min(os.sched_getaffinity(0))
    neighbour = start(["taskset", "-c", str(cpu), sys.executable, "-c", BUSY])
    try:
        assert neighbour.stdout is not None and neighbour.stdout.readline() == "ready\n"
        before = snapshot()
        assert neighbour.stdout.readline() == "done\n"
        busy = ran_on(before, snapshot(), {cpu}, {os.getpid()})
        quiet_from = snapshot()
        idle = ran_on(quiet_from, snapshot(), {cpu}, {os.getpid()})
        elsewhere = ran_on(before, snapshot(), {cpu + 1}, {os.getpid()})
    finally:
        neighbour.kill()
        neighbour.wait()
    (named,) = [r for r in busy if r.name == "busy-neighbour"]
    assert named.cpu == cpu and named.ms >= 190, named  # its CPU time, however long it waited
    assert "busy-neighbour" not in [r.name for r in idle + elsewhere]  # asleep; not that CPU


def test_a_long_tail_names_the_threads_that_made_the_server_wait() -> None:
    point = SweepPoint(
        api="protocol", loop="uvloop", transport="tcp", size=1024, concurrency=10, pipeline=1,
        rate=10_000, achieved_rate=10_000, p50_us=40, p99_us=2_000, duration_s=1.0,
        waits=Waits(server_wait_ms=12.0, client_wait_ms=0.0, client_involuntary=0, steal_ms=0.0),
        others=(("kdamond.0", "server", 9.1), ("tokio-rt-worker", "client", 6.7),
                ("kworker/0:1-events", "server", 1.2)),
    )  # fmt: skip
    assert attribution(point) == (
        "the server waited 12.0 ms for its CPU: kdamond.0 9.1 ms, kworker/0:1-events 1.2 ms "
        "ran there"
    )


def test_the_machines_threads_on_the_servers_cpu_are_a_cause_past_a_share_of_the_run() -> None:
    """No CPU wait counted, but other threads ran 1% of a 2 s run on the server's CPU."""
    point = SweepPoint(
        api="streams", loop="asyncio", transport="tcp", size=1024, concurrency=10, pipeline=1,
        rate=13_000, achieved_rate=13_000, p50_us=50, p99_us=1_200, duration_s=1.0,
        others=(("tokio-rt-worker", "server", 12.0), ("kdamond.0", "server", 8.0),
                ("ksoftirqd/1", "client", 30.0)),
        others_span_s=2.0,
    )  # fmt: skip
    assert attribution(point) == (
        "other threads ran 20.0 ms on the server's CPU over the 2.0 s run (tokio-rt-worker "
        "12.0 ms, kdamond.0 8.0 ms)"
    )
    quiet = replace(point, others=(("kdamond.0", "server", 4.0),))
    assert attribution(quiet).startswith("no GC pause")
