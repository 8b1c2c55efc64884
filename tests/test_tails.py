"""Answers that reproduce: the knee search, points sliced until their p99 is known, the
backlog rule, and where a long tail comes from (GC, a CPU shared with another process, the
load generator), on synthetic data and against real servers."""

import random
import subprocess
import sys
import time
from array import array
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.commands import bench, client_json, importable
from helpers.pool import ServerPool
from helpers.stalls import stopped_client
from helpers.synthetic import measurement

from aionetbench.cpus import spawn_pinned
from aionetbench.endpoints import Endpoint
from bench.analyse.slo import INTERPOLATED, UNRESOLVED, slo_capacity
from bench.analyse.tails import attribution, causes, long_tail
from bench.measure.sweep import KNEE_BRACKET, Knee, below, beyond
from bench.store.reader import GcTally, SweepPoint, load_results
from bench.store.schema import GcPauses
from clients import stats
from clients.judgement import interference, point_flags
from clients.native import native_generator
from clients.slices import joined, measure_sliced, sound
from clients.spec import LoadSpec
from clients.summary import Schedule, Summary, Waits
from clients.window import WorkerResult

PROGRAM = "clients.native" if native_generator() else "clients"


def test_knee_search_brackets_the_capacity_within_five_percent() -> None:
    """A server whose p99 grows as 1/(1 - load/capacity): the ladder's first miss, then
    bisection in log load, until the bracket's ends are within 10% and hold the crossing."""

    def meets(rate: float) -> bool:
        return 100 / (1 - min(rate / 40_000, 0.999)) <= 1000  # crosses 1 ms at 36,000

    knee = Knee()
    for rate in (1000, 4000, 16_000, 64_000):
        knee.record(rate, meets(rate))
        if knee.bad is not None:
            break
    steps = 0
    while (rate := knee.next_rate()) is not None:
        knee.record(rate, meets(rate))
        steps += 1
    assert knee.good is not None and knee.bad is not None
    assert knee.bad / knee.good <= KNEE_BRACKET and knee.good <= 36_000 <= knee.bad
    assert steps == 4  # 16,000-64,000 is 4x: four halvings (in log) reach 1.09x


def test_knee_search_stops_when_its_middles_say_nothing() -> None:
    """A middle point that said nothing (verdict None: interfered with) moves neither end; the
    search tries the middles of either half instead, never a load twice, and ends when those
    said nothing too instead of measuring forever."""
    knee = Knee()
    knee.record(10_000, True)
    knee.record(40_000, False)
    middle = knee.next_rate()
    assert middle == 20_000
    knee.record(middle, None)  # interfered with: then the middles of either half
    assert knee.next_rate() == 14_100
    knee.record(14_100, None)
    assert knee.next_rate() == 28_300
    knee.record(28_300, None)
    assert knee.next_rate() is None and (knee.good, knee.bad) == (10_000, 40_000)


def test_a_miss_below_a_success_is_noise_and_the_ladder_extends_both_ways() -> None:
    knee = Knee()
    knee.record(8000, False)
    knee.record(16_000, True)
    assert (knee.good, knee.bad) == (16_000, None)
    assert beyond([1000, 2000, 4000], 3) == [5000, 6250, 7810]
    assert below([1000, 2000, 4000], 3) == [500, 250, 120]


def sweep_point(rate: float, p99_us: float, **fields: object) -> SweepPoint:
    return SweepPoint(api="protocol", loop="uvloop", transport="tcp", size=1024, concurrency=10,
                      pipeline=1, rate=rate, achieved_rate=rate, p50_us=100, p99_us=p99_us,
                      p999_us=2 * p99_us, duration_s=1.0, **fields)  # type: ignore[arg-type]  # fmt: skip


def test_slo_capacity_says_its_bracket_and_skips_interfered_points() -> None:
    points = [sweep_point(20_000, 400), sweep_point(21_000, 9000, interfered=True),
              sweep_point(21_500, 800), sweep_point(23_000, 1500)]  # fmt: skip
    capacity = slo_capacity(points, 1000, ladder_top=23_000)
    assert capacity.bound == INTERPOLATED and capacity.bracket == (21_500, 23_000)
    assert capacity.exact and str(capacity).endswith("(21,500-23,000)")
    wide = slo_capacity([sweep_point(10_000, 400), sweep_point(40_000, 4000)], 1000, 40_000)
    assert wide.bound == UNRESOLVED and not wide.exact  # a 4x bracket: not searched
    only_interfered = slo_capacity([sweep_point(10_000, 400),
                                    sweep_point(20_000, 9000, interfered=True)], 1000, 40_000)  # fmt: skip
    assert only_interfered.limit == "interfered with above" and only_interfered.rate == 10_000


def open_result(latencies_us: list[list[float]], seconds: float = 1.0) -> WorkerResult:
    """One worker's window of 20 blocks, each with the given latencies (us)."""
    blocks = [
        stats.Counts.of([array("q", (int(v * 1000) for v in block))]) for block in latencies_us
    ]
    samples = [array("q", (int(v * 1000) for v in block)) for block in latencies_us]
    count = sum(map(len, latencies_us))
    return WorkerResult(connections=10, requests=count, window_s=seconds, cpu_s=0.1,
                        latency=stats.record(samples), blocks=blocks,
                        lag=stats.record([array("q", [1000] * count)]), scheduled=count,
                        sent=count, started_ns=1, ended_ns=2)  # fmt: skip


SPEC = LoadSpec("tcp", Endpoint(), rate=5000.0, duration=1.0, warmup=0.5, p99_within=0.1,
                max_duration=4.0)  # fmt: skip


def test_slices_stop_early_when_steady_and_run_to_the_cap_when_not() -> None:
    """Steady latencies: one slice. A 50 ms stall for 1.5% of the messages, all in one block
    of each slice: the p99 is the stall's or not depending on that block, its interval stays
    wide, and slices are added up to the cap (4 s of 1 s slices)."""
    steady = [[100.0 + (i % 7) for i in range(250)] for _ in range(20)]
    calls = []

    def measure(spec: LoadSpec) -> list[WorkerResult]:
        calls.append(spec.warmup)
        return [open_result(steady)]

    summary = measure_sliced(SPEC, measure, "native")
    assert summary.slices == 1 and len(calls) == 1
    stall = [[50_000.0 if b == 7 and i < 75 else 100.0 for i in range(250)] for b in range(20)]
    calls.clear()
    summary = measure_sliced(
        SPEC, lambda s: calls.append(s.warmup) or [open_result(stall)], "native"
    )  # type: ignore[func-returns-value]
    assert summary.slices == 4 and summary.duration_s == pytest.approx(4.0)
    assert calls == [0.5, 0.1, 0.1, 0.1]  # later slices warm up briefly: the server is warm
    assert summary.latency_samples == 4 * 20 * 250


def test_joined_slices_add_up_exactly() -> None:
    one = open_result([[100.0] * 10] * 20)
    two = open_result([[300.0] * 10] * 20, seconds=2.0)
    both = joined(one, two)
    assert (both.requests, both.window_s, both.slices, len(both.blocks)) == (400, 3.0, 2, 40)
    assert both.latency is not None and both.latency.count == 400
    assert both.latency.total_ns == pytest.approx(200 * 100_000 + 200 * 300_000)


def test_answering_more_than_the_arrivals_is_a_client_limit() -> None:
    """The 170,000 msg/s point of issue 18: 196,941 answered per second. A window that
    answers (or sends) over 2% more than its arrivals is a backlog, not the server."""
    base = measurement(100_000.0, 50.0, random.Random(1)).client
    schedule = Schedule(target_rate=170_000, arrivals="poisson", p99_ci_us=(90.0, 110.0),
                        achieved_rate=196_941, sent_rate=196_941, scheduled_rate=170_000,
                        lag_p50_us=1, lag_p99_us=5, lag_max_us=50, fell_behind=False,
                        late_share=0.0, client_stalled=False)  # fmt: skip
    flags = point_flags(replace(base, mode="open", schedule=schedule))
    assert flags.caught_up and flags.client_limited and flags.stops_climbing
    steady = replace(schedule, achieved_rate=171_000, sent_rate=170_500)
    assert not point_flags(replace(base, mode="open", schedule=steady)).client_limited


def test_causes_of_a_long_tail() -> None:
    gc = GcTally(collections=(900, 80, 12), pauses=30, pause_ms=45.0, longest_ms=3.9,
                 longest_generation=2)  # fmt: skip
    quiet = Waits(server_wait_ms=0.2, client_wait_ms=0.1, client_involuntary=3, steal_ms=0.0)
    busy = replace(quiet, server_wait_ms=41.0)
    assert attribution(sweep_point(5000, 4000, gc=gc, waits=quiet)).startswith(
        "GC: 30 pauses of 0.1 ms or more (45.0 ms in all), the longest 3.9 ms in generation 2"
    )
    assert causes(sweep_point(5000, 4000, waits=busy)) == ["the server waited 41.0 ms for its CPU"]
    assert "the load generator stalled" in attribution(sweep_point(5000, 4000, stalled=True))
    behind = sweep_point(5000, 4000, client_limited=True)
    assert attribution(behind) == "the load generator could not keep to its schedule"
    assert "the kernel's own latency" in attribution(
        sweep_point(5000, 4000, waits=quiet, server_cpu=0.9)
    )
    assert "99% busy, queueing in the server" in attribution(
        sweep_point(5000, 4000, waits=quiet, server_cpu=0.99)
    )
    one = replace(gc, pauses=1, collections=(0, 0, 1))
    assert attribution(sweep_point(5000, 4000, gc=one)).startswith("GC: 1 pause of")
    assert causes(sweep_point(5000, 400, waits=busy)) == []  # 4x p50 is no long tail
    assert interference(busy, 1.0) == ["the server waited 41.0 ms for its CPU"]
    assert interference(replace(quiet, steal_ms=10.0), 1.0) == []  # one 10 ms tick is no cause


def test_gc_pauses_are_placed_in_the_window() -> None:
    report = {"counts": [50, 4, 1], "pause_ns": [0, 0, 0],
              "kept": [[0, 100, 200_000], [2, 5_000, 3_900_000], [1, 99_999, 500_000]]}  # fmt: skip
    pauses = GcPauses.of(report, [1_000, 10_000])
    assert pauses.collections == (50, 4, 1) and pauses.in_window == ((2, 3.9),)
    assert pauses.longest == (2, 3.9) and pauses.total_ms == pytest.approx(3.9)


@pytest.mark.live
def test_slices_against_a_stalling_server_stop_only_when_sound(server_pool: ServerPool) -> None:
    """The stall server blocks 200 ms once a second. Half-second slices hold the stall or
    not, so how many are needed varies; what does not: the slices' windows add up, every
    message of every slice is in the summary, and the load generator stopped either at its
    cap or because the p99 was known to +-10% (the rule itself is tested above on synthetic
    windows, both ways)."""
    server = server_pool.start_faulty("--stall-ms", "200")
    summary = client_json(server.endpoint, "--rate", "500", "--duration", "0.5", "--warmup", "0.1",
                          "--p99-within", "0.1", "--max-duration", "2", program=PROGRAM)  # fmt: skip
    slices = summary["slices"]
    assert 1 <= slices <= 4 and summary["duration_s"] == pytest.approx(0.5 * slices, rel=0.1)
    assert summary["latency_samples"] == pytest.approx(250 * slices, rel=0.2)
    assert slices == 4 or sound(Summary.from_json(summary), 0.1)


@pytest.mark.live
@pytest.mark.serial  # the stop must straddle the window's start: timing
def test_a_backlog_sent_in_the_window_is_client_limited(server_pool: ServerPool) -> None:
    """A client that cannot keep up, stopped from 0.5 s after it connected to 1.8 s, across
    the start of its window (after 1 s of warm-up): it sends the
    backlog inside the window, over its arrivals, and the point is client-limited, however
    fast the server answered it. Where the stop lands decides whether the backlog goes out
    just before the window starts (replies were pending, so the first events after it
    resumes send what is due while still warming up) or in it: up to three tries."""
    server = server_pool.start(
        [sys.executable, "-m", "servers", "protocol", "--port", "0", "--loop", "uvloop"]
    )
    for _ in range(3):
        summary = stopped_client(server.endpoint, PROGRAM, ["--duration", "1", "--warmup", "1",
                                 "--rate", "4000"], stop_after_s=0.5, stop_for_s=1.3)  # fmt: skip
        assert summary["errors"] == 0
        if summary["sent_rate"] > 1.02 * summary["scheduled_rate"]:
            break
    else:
        pytest.fail(f"no backlog in the window in three tries: {summary}")
    flags = point_flags(Summary.from_json(summary))
    assert flags.caught_up and flags.client_limited and flags.stops_climbing


def sweep_of(
    tmp_path: Path, loop: str, env: dict[str, str] | None = None, *options: str
) -> SweepPoint:
    """One open-loop point of `protocol` at 3,000 msg/s through `bench run`, read back (an
    objective of 1 s unless `options` say otherwise)."""
    output = tmp_path / f"{loop}.json"
    result = bench("run", "--apis", "protocol", "--loops", loop, "--repeats", "1",
                   "--duration", "0.3", "--warmup", "0.1", "--quiet", "--rates", "3000",
                   "--sweep-duration", "0.6", "--sweep-warmup", "0.2", "--slo-p99", "1000",
                   "--sweep-processes", "1", *options,
                   "-o", str(output), env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = bench("report", str(output), "-o", str(tmp_path / f"{loop}-report"))
    assert report.returncode == 0, report.stderr
    return next(p for p in load_results(output).points if p.rate == 3000)


# Bursts of 5 ms every 25 ms at real-time priority: they preempt the server whenever they
# run, whatever the scheduler would give a fair share to (EEVDF lets an ordinary spinner
# leave a mostly idle server almost no wait, so a plain busy loop does not make one reliably).
BURSTS = """\
import ctypes, os, sys, time
ctypes.CDLL(None).prctl(15, b"cpu-bursts", 0, 0, 0)
try:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
except PermissionError:
    sys.exit(3)
print("bursting", flush=True)
end = time.monotonic() + 60
while time.monotonic() < end:
    burst = time.monotonic() + 0.005
    while time.monotonic() < burst:
        pass
    time.sleep(0.02)
"""


@pytest.mark.live
@pytest.mark.serial  # the bursts take the server's core; other tests would share it too
def test_a_cpu_shared_with_another_process_is_named(tmp_path: Path) -> None:
    """A process pinned to the server's core that takes it in real-time bursts for the whole
    run: the server waits for its CPU (about 20% of the window), which the point records;
    the long tail it makes is named as the cause (as the server's late wake-ups, held by it,
    where tracing can run; else as the server's wait), and the point, which missed 1 ms,
    was measured again and flagged interfered (a miss it can have made says nothing)."""
    bursts = spawn_pinned([sys.executable, "-c", BURSTS], {0}, stdout=subprocess.PIPE, text=True)
    try:
        if bursts.stdout.readline() != "bursting\n":
            if bursts.wait() == 3:
                pytest.skip("cannot run a real-time process here (needs CAP_SYS_NICE)")
            pytest.fail(f"the burst process failed (status {bursts.returncode})")
        shared = sweep_of(tmp_path, "asyncio", None, "--slo-p99", "1", "--sweep-budget", "3")
    finally:
        bursts.kill()
        bursts.wait()
    assert shared.waits is not None and shared.waits.server_wait_ms >= 30, shared.waits
    assert shared.p99_us > 5 * shared.p50_us, shared
    if shared.wakeups is not None:
        assert "kept from its CPU" in attribution(shared) and "held by cpu-bursts" in attribution(
            shared
        )
    else:
        assert "the server waited" in attribution(shared)
    assert shared.interfered and shared.remeasured


@pytest.mark.live
def test_gc_pauses_are_named_in_the_report(tmp_path: Path) -> None:
    """A server made to collect a large heap every 300 ms in its main thread (a
    sitecustomize shim: a timer signal whose handler collects): its generation-2 pauses are
    the long tail's first cause, in the point and in the report (on a busy machine a CPU
    wait may be named after it: then the point is also interfered with)."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import gc, signal, sys\n"
        "if '--host' in sys.argv:\n"
        "    heap = [[i] for i in range(300_000)]\n"
        "    signal.signal(signal.SIGALRM, lambda *_: gc.collect())\n"
        "    signal.setitimer(signal.ITIMER_REAL, 0.3, 0.3)\n"
    )
    env = importable(shim)
    collected = sweep_of(tmp_path, "asyncio", env)
    assert collected.gc is not None and collected.gc.longest_ms >= 5, collected.gc
    assert collected.gc.collections[2] >= 3 and collected.gc.longest_generation == 2
    assert collected.waits is not None
    assert collected.interfered == bool(interference(collected.waits, collected.duration_s))
    # Quiet, the pauses make the slowest 1% (p99 well over 5x p50) and are named for it. On
    # a machine busy enough to stretch each pause past 150 ms, they fill half the window and
    # lift the median too: no long tail to explain then, and none is claimed.
    text = (tmp_path / "asyncio-report" / "report.md").read_text()
    if long_tail(collected):
        assert attribution(collected).startswith("GC:")
        assert "Where the long tails come from" in text and "GC:" in text
    else:
        assert collected.gc.pause_ms > 0.2 * 1000 * collected.duration_s, collected.gc


def test_knee_search_narrows_towards_the_load_generators_limit() -> None:
    """The server meets the objective up to where the load generator runs out (the fast
    cells on 2 cores): the search brackets the highest load it could measure, within 10%
    of that limit, instead of stopping at the ladder's last good point."""
    knee = Knee()
    knee.record(100_000, True)
    knee.record(260_000, None, limited=True)
    rates = []
    while (rate := knee.next_rate()) is not None:
        rates.append(rate)
        knee.record(rate, rate <= 210_000 or None, limited=rate > 210_000)
    assert knee.bad is None and knee.good is not None and knee.limit is not None
    assert knee.limit / knee.good <= KNEE_BRACKET and knee.good <= 210_000 < knee.limit
    assert len(rates) <= 5
    knee.record(knee.good * 1.01, False)  # a real miss inside the bracket becomes its top
    assert knee.top == knee.bad


@pytest.mark.live
def test_python_servers_report_their_collections_and_the_native_one_is_asked_once(
    server_pool: ServerPool,
) -> None:
    python = server_pool.start(
        [sys.executable, "-m", "servers", "streams", "--port", "0", "--loop", "uvloop"]
    )
    report = python.gc_report()
    assert report is not None and set(report) == {"counts", "pause_ns", "kept"}
    native = server_pool.start([sys.executable, "-m", "servers", "native", "--port", "0"])
    started = time.monotonic()
    assert native.gc_report(timeout=0.5) is None  # no collector: no answer
    assert native.gc_report() is None and time.monotonic() - started < 1.5  # not asked again
