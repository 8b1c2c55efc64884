"""Connection churn through the suite: cells whose connections come and go, their results
file, its report; and the comparisons the report may make from them."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pyperf
import pytest
from helpers.commands import NEEDS_NATIVE, bench, refused

from bench.plan.cells import Cell
from bench.plan.profiles import make_plan
from bench.report.churn import comparisons
from bench.store.reader import CellResults

CELL = CellResults("protocol", "uvloop", "tcp", 1024, 10, 1, churn=1)


def test_a_churned_cell_is_named_and_counted_in_connections() -> None:
    cell = Cell("protocol", "uvloop", "tcp", 1024, 10, 1, churn=3)
    assert cell.name == "tcp/protocol/uvloop/1024B/c10/churn3" and cell.unit == "conn/s"
    plan = make_plan("quick", workloads=("churn",), apis=("protocol",), loops=("asyncio",))
    assert [c.name for c in plan.cells] == ["tcp/protocol/asyncio/1024B/c10/churn1"]


def test_overlapping_repeats_are_not_ranked_and_client_bound_cells_are_named() -> None:
    fast = replace(CELL, cps=[30_000, 31_000], client_bound=[False, False])
    close = replace(CELL, api="streams", cps=[29_000, 30_500], client_bound=[False, False])
    slow = replace(CELL, api="websockets", cps=[4_000, 4_100], client_bound=[False, False])
    bound = replace(CELL, api="buffered", cps=[40_000, 41_000], client_bound=[True, True])
    [sentence] = comparisons([fast, close, slow, bound])
    assert "**protocol** completes 30,500 (30,000-31,000) conn/s: 7.53x websockets" in sentence
    assert "not ranked against streams" in sentence
    assert "buffered client-bound" in sentence and "x buffered" not in sentence


def test_churn_options_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(capsys, "run", "--churn-messages", "2")
    assert "--churn-messages goes with --workload churn" in err
    err = refused(capsys, "run", "--workload", "churn", "--client", "python")
    assert "measured by the native load generator" in err


@pytest.mark.live
@NEEDS_NATIVE
def test_a_churn_run_end_to_end(tmp_path: Path) -> None:
    output, report = tmp_path / "churn.json", tmp_path / "report"
    result = bench("run", "--apis", "protocol,native", "--loops", "asyncio", "--workload", "churn",
                   "--churn-messages", "2", "--duration", "0.4", "--warmup", "0.1", "--repeats",
                   "2", "--rates", "1000", "--sweep-duration", "0.3", "--sweep-warmup", "0.1",
                   "--sweep-budget", "1", "--sweep-processes", "1", "--quiet", "-o", str(output))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "at 1,000 conn/s" in result.stderr
    suite = pyperf.BenchmarkSuite.load(str(output))
    main = suite.get_benchmark("tcp/protocol/asyncio/1024B/c10/churn2")
    assert main.get_metadata()["churn"] == 2
    for run in main.get_runs():
        metadata = run.get_metadata()
        # Two echoes per connection: requests/s is twice connections/s.
        assert metadata["cps"] == pytest.approx(metadata["rps"] / 2, rel=0.05)
    stats = subprocess.run([sys.executable, "-m", "pyperf", "stats", str(output)],
                           capture_output=True, text=True)  # fmt: skip
    assert stats.returncode == 0, stats.stderr
    assert bench("report", str(output), "-o", str(report)).returncode == 0
    text = (report / "report.md").read_text()
    assert "## Connection churn" in text and "conn/s" in text
    assert "| `tcp/protocol/asyncio/1024B/c10/churn2` |" in text
    assert (report / "churn-tcp.png").stat().st_size > 10_000
    assert json.loads(output.read_text())["aionetbench"]["failed"] == []


def test_workload_variants_make_each_cell_once() -> None:
    plan = make_plan("quick", workloads=("idle", "slow"), idle_connections=(0, 100),
                     slow_readers=3, apis=("protocol",), loops=("uvloop",))  # fmt: skip
    assert [c.name for c in plan.cells] == [
        "tcp/protocol/uvloop/1024B/c10/at2000",  # the same load alone, once for both
        "tcp/protocol/uvloop/1024B/c10/idle100/at2000",
        "tcp/protocol/uvloop/1024B/c10/slow3/at2000",
    ]
    assert plan.sweep_cells == []  # a fixed load is not swept


@pytest.mark.live
@NEEDS_NATIVE
def test_idle_and_slow_readers_end_to_end(tmp_path: Path) -> None:
    output, report = tmp_path / "workloads.json", tmp_path / "report"
    result = bench("run", "--apis", "protocol", "--loops", "asyncio", "--workload", "idle,slow",
                   "--idle-connections", "0,300", "--slow-readers", "2", "--duration", "0.6",
                   "--warmup", "0.2", "--repeats", "1", "--quiet", "-o", str(output))  # fmt: skip
    assert result.returncode == 0, result.stderr
    suite = pyperf.BenchmarkSuite.load(str(output))
    idle = suite.get_benchmark("tcp/protocol/asyncio/1024B/c10/idle300/at2000")
    [run] = idle.get_runs()
    # Open loop at the fixed load, and the server's memory before the run recorded.
    assert run.get_metadata()["rps"] == pytest.approx(2000, rel=0.2)
    assert run.get_metadata()["server_rss_before"] > 10 * 1024 * 1024
    assert bench("report", str(output), "-o", str(report)).returncode == 0
    text = (report / "report.md").read_text()
    assert "## Many connections" in text and "## Slow readers" in text
    assert "With 300 idle connections, the measured p99 against the same load alone" in text
    assert "| tcp protocol / asyncio |" in text and "bounded" in text
    assert "## Ranking" not in text  # a fixed load ranks nothing
    assert (report / "idle.png").stat().st_size > 10_000
