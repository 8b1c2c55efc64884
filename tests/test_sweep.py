"""Open-loop sweeps: the ladder, SLO capacity and the ranking rule on synthetic data; a tiny
sweep, a server dying mid-sweep and Ctrl-C mid-sweep against real servers."""

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pyperf
import pytest
from helpers.commands import bench, importable, refused, start
from helpers.processes import still_running

from aionetbench.wakeups import Wakeup, Wakeups
from bench.analyse.ranking import REQUESTS, SERVER_CPU, deciding_metric, rank
from bench.analyse.slo import (
    ABOVE,
    AT_LEAST,
    BELOW,
    INTERPOLATED,
    UNRESOLVED,
    crossing,
    slo_capacity,
)
from bench.measure.sweep import ladder, round_rate
from bench.plan.cells import Cell
from bench.report.latency_load import by_cell, equal_load_sentences, slo_sentences
from bench.report.report import ranking
from bench.store.reader import CellResults, SweepPoint, load_results
from clients.judgement import PointFlags, point_flags
from clients.summary import Summary

CELL = Cell("protocol", "uvloop", "tcp", 1024, 10, 1)
SWEEP = ["--repeats", "1", "--duration", "0.4", "--warmup", "0.2", "--quiet",
         "--sweep-duration", "0.5", "--sweep-warmup", "0.2", "--sweep-processes", "1"]  # fmt: skip


def test_ladder_spans_slowest_to_fastest_and_is_shared() -> None:
    rates = ladder([22_000, 40_000, 160_000])
    assert rates[0] == round_rate(0.2 * 22_000) == 4400
    assert rates[-1] == round_rate(1.10 * 160_000) == 180_000
    assert len(rates) == 5 and list(rates) == sorted(set(rates))
    steps = [b / a for a, b in itertools.pairwise(rates)]
    assert max(steps) / min(steps) < 1.15  # log-spaced, up to the rounding
    assert ladder([]) == ()
    assert round_rate(123_456) == 120_000 and round_rate(7.4) == 7


def point(rate: float, p99_us: float, **flags: object) -> SweepPoint:
    achieved = flags.pop("achieved", rate)
    return SweepPoint(**vars(CELL), rate=rate, achieved_rate=achieved, p50_us=p99_us / 3,
                      p99_us=p99_us, p999_us=p99_us * 2, **flags)  # type: ignore[arg-type]  # fmt: skip


def test_the_crossing_interpolates_the_p99_in_log_log() -> None:
    # p99 grows 10x per decade between the two: 1 ms is crossed 0.398 decades up.
    rate = crossing(point(10_000, 400), point(100_000, 4000), 1000)
    assert rate == pytest.approx(10_000 * 10 ** (0.39794), rel=1e-3)


def test_the_crossing_at_saturation_interpolates_the_answered_share() -> None:
    # 100% answered at 10k, 90% at 20k: 97% is crossed 30% of the way (in log load).
    rate = crossing(point(10_000, 300), point(20_000, 500, saturated=True, achieved=18_000), 1000)
    assert rate == pytest.approx(10_000 * 2**0.3, rel=1e-3)


def test_a_capacity_is_interpolated_only_in_a_narrow_bracket() -> None:
    """Within the knee search's +-5% it is a figure with its bracket as interval; wider, the
    bracket is named as unresolved, and not interpolated."""
    narrow = slo_capacity([point(1000, 100), point(10_000, 900), point(10_500, 1100)], 1000, 10_500)
    assert narrow.bound == INTERPOLATED and narrow.interval == (10_000, 10_500)
    assert narrow.rate == pytest.approx(crossing(point(10_000, 900), point(10_500, 1100), 1000))
    wide = slo_capacity([point(1000, 100), point(10_000, 400), point(100_000, 4000)], 1000, 1e5)
    assert (wide.bound, wide.rate, wide.bracket) == (UNRESOLVED, 10_000, (10_000, 100_000))
    assert str(wide) == "unresolved: met at 10,000, missed at 100,000" and not wide.exact


def test_slo_capacity_out_of_range_is_said() -> None:
    below = slo_capacity([point(1000, 2000), point(2000, 3000)], 1000, 2000)
    assert (below.bound, below.rate, str(below)) == (BELOW, 1000, "< 1,000 (below the ladder)")
    above = slo_capacity([point(1000, 100), point(2000, 200)], 1000, 2000)
    assert (above.bound, above.rate) == (ABOVE, 2000)
    assert str(above) == ">= 2,000 (above the ladder)"
    limited = slo_capacity([point(1000, 100), point(2000, 90_000, client_limited=True)], 1000, 4000)
    assert (limited.bound, limited.rate, limited.limit) == (AT_LEAST, 1000, "client-limited above")
    stopped = slo_capacity([point(1000, 100)], 1000, 4000)  # the next point failed
    assert (stopped.bound, stopped.limit) == (AT_LEAST, "not measured above")
    assert slo_capacity([], 1000, 4000).rate is None


def test_slo_capacity_takes_the_highest_good_point() -> None:
    """A noisy point over the objective below a good one does not cap the capacity."""
    points = [point(1000, 100), point(2000, 1500), point(4000, 300), point(8000, 3000)]
    capacity = slo_capacity(points, 1000, 8000)
    assert capacity.bracket == (4000, 8000)


def test_interference_voids_a_miss_once_but_not_a_success() -> None:
    """Another thread or the hypervisor only adds latency: a point met despite it is the
    server's success, a miss it can have made says nothing and is left out, unless it made
    it again when measured again: then it is the machine's steady state, and a miss."""
    points = [point(1000, 100), point(10_000, 900, interfered=True),
              point(10_300, 5000, interfered=True), point(10_500, 1100)]  # fmt: skip
    capacity = slo_capacity(points, 1000, 10_500)
    assert capacity.bound == INTERPOLATED and capacity.bracket == (10_000, 10_500)
    points[2] = point(10_300, 5000, interfered=True, remeasured=True)
    assert slo_capacity(points, 1000, 10_500).bracket == (10_000, 10_300)


def test_slo_sentence_ranks_only_what_its_intervals_separate() -> None:
    def named(api: str) -> SweepPoint:
        return SweepPoint(**{**vars(CELL), "api": api}, rate=1)

    capacities = {
        "a": (point(1, 1), slo_capacity([point(3000, 100), point(3100, 10_000)], 1000, 10_000)),
        "b": (named("streams"), slo_capacity([point(1000, 100), point(1050, 5000)], 1000, 10_000)),
        "c": (named("buffered"), slo_capacity([point(3050, 100), point(3500, 5000)], 1000, 10_000)),
        "d": (named("sockets"), slo_capacity([point(2900, 100), point(3080, 5000)], 1000, 10_000)),
    }
    (sentence,) = slo_sentences(capacities, 1.0)
    assert sentence.startswith(
        "Within p99 <= 1 ms on **uvloop**, **protocol** sustains 3,050 msg/s (3,000-3,100): "
        "2.96x streams (1,000-1,050); sockets (3,005, 2,900-3,080) overlaps its interval: not "
        "ranked against it; not ranked: buffered (unresolved: met at 3,050, missed at 3,500)."
    ), sentence


def test_bounded_capacities_are_ranked_by_server_cpu_at_equal_load() -> None:
    """Cells still within the objective when the ladder or the client ran out are ranked by
    how busy their server was at the highest load all of them met; within 5% is a tie."""

    def line(api: str, busy: list[float], p99s: list[float], top: dict) -> list[SweepPoint]:
        cell = {**vars(CELL), "api": api}
        *rates, last = [1000, 2000, 4000, 8000, 16000][: len(busy) + 1]
        points = [SweepPoint(**cell, rate=r, achieved_rate=r, p99_us=p99, server_cpu=cpu)
                  for r, cpu, p99 in zip(rates, busy, p99s, strict=True)]  # fmt: skip
        return [*points, SweepPoint(**cell, rate=last, achieved_rate=last, **top)]

    limited = {"client_limited": True, "p99_us": 500}
    points = [
        *line("streams", [0.2, 0.3, 0.5], [100, 100, 100], limited),  # the client ran out first
        *line("protocol", [0.1, 0.2, 0.3, 0.4], [100, 100, 100, 100], limited),
        *line("buffered", [0.1, 0.2, 0.31, 0.5], [100, 3000, 100, 100], limited),  # a noisy miss
        *line("websockets", [0.3, 0.6], [100, 200], {"saturated": True, "p99_us": 1e5}),
    ]
    lines = by_cell(points)
    capacities = {name: (pts[0], slo_capacity(pts, 1000, 16000)) for name, pts in lines.items()}
    (sentence,) = equal_load_sentences(lines, capacities, 1000)
    assert sentence.startswith("At 4,000 msg/s on **uvloop**, the highest load at which protocol, "
                               "buffered and streams all met the objective")  # fmt: skip
    assert "busy: protocol 30%, buffered 31%, streams 50%." in sentence
    assert "websockets" not in sentence  # its capacity is exact: the objective ranks it
    assert "**protocol and buffered** have the most headroom" in sentence

    def miss_everywhere(name: str) -> None:
        lines[name] = [replace(p, p99_us=3000) for p in lines[name]]
        capacities[name] = (lines[name][0], slo_capacity(lines[name], 1000, 16000))

    miss_everywhere("tcp/buffered/uvloop/1024B/c10")  # below the ladder: ranked by the objective
    (sentence,) = equal_load_sentences(lines, capacities, 1000)
    assert "at which protocol and streams all met" in sentence
    assert "**protocol** has the most headroom" in sentence
    miss_everywhere("tcp/streams/uvloop/1024B/c10")
    assert equal_load_sentences(lines, capacities, 1000) == []  # one bounded cell: no ranking


def cell_results(api: str, rps: float, server_us: float, bound: bool) -> CellResults:
    cell = CellResults(api, "uvloop", "tcp", 1024, 10, 1)
    cell.rps.extend([rps] * 3)
    cell.server_us.extend([server_us] * 3)
    cell.client_bound.extend([bound] * 3)
    return cell


def test_client_bound_cells_are_ranked_by_server_cpu() -> None:
    """Today's quick profile on uvloop: buffered 1.03x protocol's req/s, both client-bound,
    while protocol needs less server CPU per request: protocol is the faster server."""
    buffered = cell_results("buffered", 161_800, 4.40, bound=True)
    protocol = cell_results("protocol", 157_000, 4.12, bound=True)
    streams = cell_results("streams", 118_500, 8.4, bound=False)
    assert deciding_metric(buffered, protocol) == SERVER_CPU
    assert deciding_metric(protocol, streams) == REQUESTS
    assert [c.api for c in rank([buffered, streams, protocol])] == [
        "protocol",
        "buffered",
        "streams",
    ]
    sentence = ranking([buffered, streams, protocol])[0]
    assert sentence.startswith(
        "On **uvloop**, the fastest API is **protocol** at 157,000 req/s (client-bound"
    )
    assert "buffered by server CPU per request (4.12 vs 4.40 us, both client-bound)" in sentence
    assert "server CPU per request, which it cannot cap, decided" in sentence
    assert f"{157_000 / 118_500:.2f}x streams" in sentence


def test_unbound_cells_are_ranked_by_requests() -> None:
    fast = cell_results("protocol", 100_000, 9.0, bound=False)
    slow = cell_results("streams", 80_000, 8.0, bound=False)
    assert rank([slow, fast])[0] is fast  # less CPU per request does not matter: req/s does
    assert "decided" not in ranking([slow, fast])[0]


def flags_of(fields: dict, wakeups: Wakeups | None = None) -> PointFlags:
    """The flags of an open-loop summary with these fields, the others filled in."""
    latency = {"p50": 50.0, "p90": 80.0, "p999": 200.0, "max": 300.0, "mean": 60.0,
               "stdev": 10.0, "histogram": "", **fields["latency_us"]}  # fmt: skip
    summary = {
        "protocol": "tcp", "endpoint": "127.0.0.1:1", "tls": False, "loop": "uvloop",
        "size": 1024, "concurrency": 10, "pipeline": 1, "workers": 1, "mode": "open",
        "requests": 2000, "rps": 1000.0, "mib_s": 1.0, "errors": 0, "error_messages": [],
        "client_cpu": 1.0, "client_cpu_us_per_request": 1.0, "client_bound": False,
        "latency_samples": 2000, "undelivered": 0, "arrivals": "poisson", "sent_rate": 1020.0,
        "schedule_lag_us": {"p50": 1.0, "p99": 5.0, "max": 9.0}, "late_share": 0.0,
        **fields, "latency_us": latency,
    }  # fmt: skip
    return point_flags(Summary.from_json(summary), wakeups)


def test_point_flags() -> None:
    summary = {"target_rate": 1000, "scheduled_rate": 1020, "achieved_rate": 1000, "duration_s": 2.0,
               "fell_behind": False, "client_stalled": False, "latency_us": {"p99": 100.0},
               "p99_ci_us": [95.0, 108.0]}  # fmt: skip
    flags = flags_of(summary)
    assert not flags.saturated and not flags.client_limited and not flags.unreliable
    assert flags_of({**summary, "achieved_rate": 980}).saturated  # under 97% of 1020
    # the same share over 0.2 s is 8 messages short: replies in flight, not a backlog
    assert not flags_of({**summary, "achieved_rate": 980, "duration_s": 0.2}).saturated
    assert flags_of({**summary, "p99_ci_us": [80.0, 105.0]}).unreliable
    assert flags_of({**summary, "p99_ci_us": [None, None]}).unreliable
    behind = flags_of({**summary, "fell_behind": True})
    assert behind.client_limited and behind.stops_climbing
    stalled = flags_of({**summary, "client_stalled": True})
    assert stalled.client_limited and not stalled.stops_climbing  # a stall passes: climb on
    # A long tail the server's late wake-ups account for (6 x 2 ms x 1,000 msg/s: 12 messages of
    # 2,000 held up): interfered; a short tail or fewer held-up messages: not.
    tail = {**summary, "latency_us": {"p50": 50.0, "p99": 2_000.0}}
    woken = Wakeups(2000, 30.0, 60.0, 2000.0, (Wakeup(2000.0, "kdamond.0"),) * 6)
    assert flags_of(tail, woken).interfered and not flags_of(tail).interfered
    assert not flags_of(summary, woken).interfered
    assert not flags_of(tail, replace(woken, late=woken.late[:1])).interfered


@pytest.mark.live
def test_a_sweep_of_no_cell_or_of_no_api_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, "run", "--apis", "protocol", "--sweep-only", "websockets", "-o", "x.json")
    assert err.strip() == "bench: --sweep-only websockets names none of the plan's cells", err
    assert "expected API or API/LOOP" in refused(capsys, "run", "--sweep-only", "strems")


@pytest.mark.live
def test_bad_rates_are_argparse_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for rates in ("0", "-5", "abc", "1000,0", "inf", ""):
        err = refused(capsys, "run", f"--rates={rates}")
        assert "usage:" in err and "--rates" in err, rates


@pytest.mark.live
@pytest.mark.serial  # a climb past the ladder's top needs a client that keeps its schedule
def test_tiny_sweep_end_to_end(tmp_path: Path) -> None:
    output = tmp_path / "sweep.json"
    # One slice a point (--sweep-cap 0): slicing is tested in test_tails.
    result = bench("run", "--apis", "protocol", "--loops", "asyncio,uvloop", *SWEEP,
                   "--rates", "1000,3k", "--arrivals", "uniform", "--sweep-cap", "0",
                   "--sweep-processes", "2", "-o", str(output))  # fmt: skip
    assert result.returncode == 0, result.stderr
    suite = pyperf.BenchmarkSuite.load(str(output))
    names = set(suite.get_benchmark_names())
    climbed = {p.loop: [] for p in load_results(output).points}
    for p in sorted(load_results(output).points, key=lambda p: p.rate):
        climbed[p.loop].append(p)
    for loop in ("asyncio", "uvloop"):
        line = climbed[loop]
        # The ladder's first load was measured (a machine busy enough to make it miss 1 ms
        # even when measured again sends the climb below it, as it should).
        assert 1000 in [p.rate for p in line]
        for rate in [int(p.rate) for p in line if p.rate in (1000, 3000)]:
            prefix = f"tcp/protocol/{loop}/1024B/c10/open{rate}"
            assert {f"{prefix}/p50", f"{prefix}/p99", f"{prefix}/p999"} <= names
            p99 = suite.get_benchmark(f"{prefix}/p99")
            assert p99.get_unit() == "second" and 0 < p99.get_values()[0] < 1
            metadata = p99.get_metadata()
            assert metadata["mode"] == "open" and metadata["arrivals"] == "uniform"
            assert metadata["offered_rate"] == rate
            run = p99.get_runs()[0].get_metadata()
            for key in ("achieved_rate", "sent_rate", "fell_behind", "saturated", "unreliable",
                        "schedule_lag_p99_s", "latency_histogram_ns", "undelivered"):  # fmt: skip
                assert key in run, key
            # Delivered and answered. Whether the client kept its schedule to 100 us is this
            # machine's to say (a descheduled client is flagged, tested in test_open_loop).
            assert run["achieved_rate"] == pytest.approx(rate, rel=0.1)
            assert run["saturated"] == 0
    if os.geteuid() == 0:  # the server's wake-ups traced in every point's window
        assert all(
            p.wakeups is not None and p.wakeups.count > 0 for line in climbed.values() for p in line
        )
    assert suite.get_benchmark("tcp/protocol/uvloop/1024B/c10").get_metadata()["mode"] == "closed"
    assert json.loads(output.read_text())["aionetbench"]["ladder"] == [1000, 3000]
    stats = subprocess.run([sys.executable, "-m", "pyperf", "stats", str(output)],
                           capture_output=True, text=True)  # fmt: skip
    assert stats.returncode == 0 and "open1000/p99" in stats.stdout
    assert bench("compare", str(output), str(output)).returncode == 0
    assert bench("export", str(output), "--format", "bencher").returncode == 0
    results = load_results(output)
    assert len(results.cells) == 2
    # Two fresh servers climbed each cell; where one met 1 ms on the ladder as the server's
    # figure, its climb went on past the top (whether this machine met it is its own to say).
    for line in climbed.values():
        assert {p.process for p in line} == {1, 2}
        for process in (1, 2):
            own = [p for p in line if p.process == process]
            ladder = [p for p in own if p.rate in (1000, 3000)]
            ladder_met = all(p.p99_us <= 1000 and not p.client_limited for p in ladder)
            assert not ladder_met or 3750 in [p.rate for p in own], own
    report = bench("report", str(output), "-o", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Latency under load" in text and "at saturation" in text
    # A capacity sentence for every loop one of whose points met the objective as a
    # measurement of the server (on a busy machine every point can miss or be limited).
    for loop, line in climbed.items():
        if any(p.p99_us <= 1000 and not (p.client_limited or p.interfered) for p in line):
            assert f"Within p99 <= 1 ms on **{loop}**" in text, (loop, line)
    assert (tmp_path / "report" / "latency-load.png").stat().st_size > 20_000


def dying_server(tmp_path: Path, launch: int, after_s: float) -> dict[str, str]:
    """An environment in which the `launch`-th echo server started exits with status 3
    `after_s` seconds after it starts (through sitecustomize, counting launches in a file;
    the load generator is left alone)."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import os, sys, threading\n"
        "if '--host' in sys.argv:\n"
        f"    with open({str(tmp_path / 'launches')!r}, 'a+') as launches:\n"
        "        launches.write('.')\n"
        "        launches.seek(0)\n"
        f"        if len(launches.read()) == {launch}:\n"
        f"            threading.Timer({after_s}, os._exit, [3]).start()\n"
    )
    return importable(shim)


@pytest.mark.live
def test_a_sweep_budget_bounds_the_measurements_of_a_server_process(tmp_path: Path) -> None:
    """1,000 msg/s meets 50 ms (however busy the machine) and 150,000 saturates websockets
    here: the knee search between them needs five or more points, and a budget of 3 stops
    it after one, unresolved."""
    output = tmp_path / "budget.json"
    result = bench("run", "--apis", "websockets", "--loops", "asyncio", *SWEEP,
                   "--rates", "1000,150k", "--slo-p99", "50", "--sweep-budget", "3",
                   "-o", str(output))  # fmt: skip
    assert result.returncode == 0, result.stderr
    points = load_results(output).points
    assert 2 <= len(points) <= 3, [(p.rate, p.remeasured) for p in points]
    assert {1000, 150_000} <= {p.rate for p in points}
    assert bench("run", "--sweep-budget", "0", "-o", str(output)).returncode == 2


@pytest.mark.live
def test_server_dying_mid_sweep_fails_that_point_only(tmp_path: Path) -> None:
    """Two closed-loop runs start servers 1 and 2; the sweep starts one server per cell, and
    the first (asyncio's, server 3) dies 1 s after it starts, inside its first 1.5 s point."""
    output = tmp_path / "dying.json"
    result = bench("run", "--apis", "protocol", "--loops", "asyncio,uvloop", *SWEEP[:7],
                   "--sweep-duration", "1.5", "--sweep-warmup", "0.2", "--sweep-processes", "1",
                   "--rates", "500,1000", "--slo-p99", "50", "-o", str(output),
                   env=dying_server(tmp_path, launch=3, after_s=1.0))  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    failed = json.loads(output.read_text())["aionetbench"]["failed"]
    assert [(f["cell"], f["reason"]) for f in failed] == [
        ("tcp/protocol/asyncio/1024B/c10/open500", "server died (status 3)")
    ]
    results = load_results(output)
    assert {c.loop for c in results.cells} == {"asyncio", "uvloop"}  # the matrix is kept
    # The next cell climbs on a fresh server, unharmed (a busy machine may end its climb
    # on a flagged point, never silently).
    climb = sorted((p for p in results.points), key=lambda p: p.rate)
    assert {p.loop for p in climb} == {"uvloop"} and climb[0].rate == 500
    assert climb[-1].rate >= 1000 or climb[-1].client_limited or climb[-1].saturated
    assert (tmp_path / "launches").read_text() == "...."


@pytest.mark.live
def test_interrupt_mid_sweep_keeps_completed_points(tmp_path: Path) -> None:
    output = tmp_path / "interrupted.json"
    # Two cells: if the first stops climbing after one point (a busy machine can make it
    # client-limited), the second cell's sweep is still ahead when the signal comes.
    command = [sys.executable, "-m", "bench", "run", "--apis", "protocol", "--loops", "asyncio,uvloop",
               *SWEEP, "--rates", "300,600,900,1200", "-o", str(output)]  # fmt: skip
    process = start(command)
    parent = psutil.Process(process.pid)
    seen: set[psutil.Process] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        not output.exists() or "/open" not in output.read_text()
    ):
        seen.update(parent.children(recursive=True))
        time.sleep(0.05)
    assert output.exists() and "/open" in output.read_text(), "no point completed"
    time.sleep(0.3)  # in the middle of the next point
    seen.update(parent.children(recursive=True))
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert load_results(output).points  # every completed point is there, in a valid file
    assert json.loads(output.read_text())["aionetbench"]["interrupted"] is True
    alive = still_running(seen)
    assert not alive, f"orphans: {[p.cmdline() for p in alive]}"
