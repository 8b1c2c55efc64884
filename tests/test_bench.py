"""The orchestrator end to end: real servers and clients, results read back through pyperf."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyperf
import pytest
from helpers.commands import bench, importable, refused, start
from helpers.processes import descendants, still_running

from aionetbench.cpus import spawn_pinned

pytestmark = pytest.mark.live  # every test here starts servers or the suite's commands

TINY = ["--duration", "0.4", "--warmup", "0.2", "--repeats", "2", "--rates", "none", "--quiet"]


def test_tiny_matrix_end_to_end(tmp_path: Path) -> None:
    output = tmp_path / "tiny.json"
    result = bench(
        "run", "--apis", "protocol,websockets", "--loops", "uvloop", *TINY, "-o", str(output)
    )
    assert result.returncode == 0, result.stderr
    suite = pyperf.BenchmarkSuite.load(str(output))
    names = set(suite.get_benchmark_names())
    for cell in ("tcp/protocol/uvloop/1024B/c10", "tcp/websockets/uvloop/1024B/c10"):
        assert {cell, f"{cell}/p50", f"{cell}/p90", f"{cell}/p99", f"{cell}/server-cpu"} <= names
    main = suite.get_benchmark("tcp/protocol/uvloop/1024B/c10")
    assert main.get_nrun() == 2 and main.get_unit() == "second"
    assert 0 < main.median() < 0.001  # seconds per request
    metadata = main.get_metadata()
    for key in ("api", "server_loop", "client_loop", "transport", "size", "concurrency", "pipeline",
                "pinning", "python_version", "uvloop_version", "websockets_version", "pyperf_version",
                "cpu_model_name", "cpu_count", "kernel", "suite_commit"):  # fmt: skip
        assert key in metadata, key
    assert metadata["pinning"] == "server:0 client:1"
    run = main.get_runs()[0].get_metadata()
    assert {"date", "rps", "client_bound", "server_peak_rss", "latency_histogram_ns"} <= set(run)
    assert run["server_peak_rss"] > 10 * 1024 * 1024
    # pyperf's own command line reads it without complaint
    stats = subprocess.run(
        [sys.executable, "-m", "pyperf", "stats", str(output)], capture_output=True, text=True
    )
    assert stats.returncode == 0 and "tcp/protocol/uvloop/1024B/c10" in stats.stdout
    compare = subprocess.run(
        [sys.executable, "-m", "pyperf", "compare_to", str(output), str(output)],
        capture_output=True,
        text=True,
    )
    assert compare.returncode == 0, compare.stderr
    extra = json.loads(output.read_text())["aionetbench"]
    assert extra["failed"] == [] and extra["completed_runs"] == 4 and not extra["interrupted"]


def test_failing_server_cells_do_not_stop_the_others(tmp_path: Path) -> None:
    # Children of this run cannot import uvloop, so its uvloop servers fail to start.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "uvloop.py").write_text("raise ImportError('uvloop hidden by the test')\n")
    env = importable(shim)
    output = tmp_path / "partial.json"
    result = bench(
        "run", "--apis", "streams", "--client-loop", "asyncio", *TINY, "-o", str(output), env=env
    )
    assert result.returncode == 1
    assert "FAILED tcp/streams/uvloop/1024B/c10" in result.stderr
    assert "Traceback" not in result.stderr
    suite = pyperf.BenchmarkSuite.load(str(output))
    assert suite.get_benchmark("tcp/streams/asyncio/1024B/c10").get_nrun() == 2
    assert "tcp/streams/uvloop/1024B/c10" not in suite.get_benchmark_names()
    failed = json.loads(output.read_text())["aionetbench"]["failed"]
    assert [f["cell"] for f in failed] == ["tcp/streams/uvloop/1024B/c10"] * 2
    assert "uvloop" in failed[0]["reason"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_keeps_completed_cells(tmp_path: Path, signum: int) -> None:
    output = tmp_path / "interrupted.json"
    command = [sys.executable, "-m", "bench", "run", "--apis", "protocol", "--duration", "1", "--warmup", "0.2", "--repeats", "5", "--rates", "none", "--quiet", "-o", str(output)]  # fmt: skip
    process = start(command)
    parent = psutil.Process(process.pid)
    seen: set[psutil.Process] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not output.exists():
        seen.update(parent.children(recursive=True))
        time.sleep(0.05)
    assert output.exists(), "no run completed"
    time.sleep(0.3)  # now in the middle of the next cell
    seen.update(parent.children(recursive=True))
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    suite = pyperf.BenchmarkSuite.load(str(output))
    assert suite.get_benchmark("tcp/protocol/asyncio/1024B/c10").get_nrun() >= 1
    assert json.loads(output.read_text())["aionetbench"]["interrupted"] is True
    assert seen, "no child processes were observed"
    alive = still_running(seen)
    assert not alive, f"orphans: {[p.cmdline() for p in alive]}"


def test_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (
        ["run", "--apis", "nope"],
        ["run", "--sizes", "0"],
        ["run", "--loops", ""],
        ["frobnicate"],
    ):
        assert "usage:" in refused(capsys, *args), args
    err = refused(capsys, "run", "--apis", "sockets", "--transport", "tls")
    assert err.strip().startswith("bench: the plan has no cells")


def test_output_that_is_not_a_regular_file_is_refused_before_measuring(tmp_path: Path) -> None:
    """As root, an atomic write once renamed a JSON file over the device node /dev/full."""
    for target in ("/dev/full", "/dev/stdout", str(tmp_path)):
        result = bench("run", "--apis", "protocol", "--loops", "uvloop", *TINY, "-o", target)
        assert result.returncode == 2, (target, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and ("regular file" in lines[0] or "a directory" in lines[0]), lines
    assert Path("/dev/full").is_char_device()


def test_results_through_a_symlink_keep_the_link(tmp_path: Path) -> None:
    target, link = tmp_path / "real.json", tmp_path / "link.json"
    link.symlink_to(target)
    result = bench("run", "--apis", "protocol", "--loops", "uvloop", *TINY, "--repeats", "1",
                   "-o", str(link))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and pyperf.BenchmarkSuite.load(str(target)).get_benchmark_names()


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_unwritable_output_is_one_line_before_measuring(tmp_path: Path) -> None:
    """As a user who may not write there (root without the capability to override file
    permissions is one): one line, exit 2, before anything is measured."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    drop = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search"]  # fmt: skip
    result = subprocess.run(
        [*drop, sys.executable, "-m", "bench", "run", "--apis", "protocol", *TINY,
         "-o", str(locked / "out.json")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write results to" in lines[0], lines
    assert "Permission denied" in lines[0]


def test_durations_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--duration", "0"], ["--warmup", "-1"], ["--sweep-duration", "0"],
                 ["--sweep-warmup", "-0.5"], ["--duration", "-2"]):  # fmt: skip
        assert "usage:" in refused(capsys, "run", *args), args


def test_kill_9_of_a_run_leaves_no_server_running(tmp_path: Path) -> None:
    """What SIGKILL cannot let the run do itself, the kernel does: the server and the load
    generator get the parent-death signal (aionetbench.cpus.spawn_pinned)."""
    command = [sys.executable, "-m", "bench", "run", "--apis", "protocol", "--loops", "asyncio",
               "--repeats", "1", "--duration", "10", "--rates", "none", "--quiet",
               "-o", str(tmp_path / "killed.json")]  # fmt: skip
    run = start(command)
    try:
        deadline = time.monotonic() + 30
        while not any("clients" in " ".join(line) for line in descendants(run.pid).values()):
            assert time.monotonic() < deadline and run.poll() is None, run.stderr
            time.sleep(0.05)
        started = list(descendants(run.pid))
    finally:
        run.kill()
        run.wait()
    deadline = time.monotonic() + 10
    while still_running(started):
        assert time.monotonic() < deadline, still_running(started)
        time.sleep(0.05)


def test_a_pinned_process_runs_on_its_cpus_from_its_first_instruction() -> None:
    """Pinned before it runs anything, as `taskset` pins (aionetbench.cpus.spawn_pinned);
    CPUs it cannot have are refused in one OSError."""
    cpu = max(os.sched_getaffinity(0))
    show = [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"]
    child = spawn_pinned(show, {cpu}, stdout=subprocess.PIPE, text=True)
    assert child.communicate(timeout=30)[0] == f"[{cpu}]\n"
    with pytest.raises(OSError, match="cannot run on CPUs"):
        spawn_pinned(show, {4096}, stdout=subprocess.PIPE, text=True)
