"""The CI gate, the instruction counter, history and export."""

import json
import random
import shutil
import socket
import threading
import time
from pathlib import Path

import pyperf
import pytest
from helpers.commands import bench, refused
from helpers.synthetic import QUICK, cell, write_results

from aionetbench.endpoints import Endpoint
from aionetbench.errors import UsageError
from bench.analyse.compare import compare_family, compare_files, holm
from bench.measure.count import CountFailed, echo_exactly

PNG = b"\x89PNG\r\n\x1a\n"


def test_holm_keeps_noise_from_failing_the_gate() -> None:
    """Forty benchmarks of pure noise: tested one by one at 95% some look 'significant';
    Holm-Bonferroni over the family lets none through. A real 20% slowdown still gets out."""
    rng = random.Random(7)
    noise = {
        f"b{i}": ([rng.gauss(1, 0.1) for _ in range(5)], [rng.gauss(1, 0.1) for _ in range(5)], 0.0)
        for i in range(40)
    }
    alone = compare_family("new", noise, correct=False)
    assert any(c.significant for c in alone)
    assert not any(c.significant for c in compare_family("new", noise))
    slower = {**noise, "real": ([1.0, 1.01, 0.99, 1.0, 1.0], [1.2, 1.21, 1.19, 1.2, 1.2], 0.05)}
    flagged = [c.name for c in compare_family("new", slower) if c.regression]
    assert flagged == ["real"]


def test_holm_steps() -> None:
    assert holm([0.01, 0.04, 0.03], alpha=0.05) == [True, False, False]
    assert holm([0.001, 0.02, 0.04], alpha=0.05) == [True, True, True]


@pytest.mark.live
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_instruction_count_repeats_within_one_percent(tmp_path: Path) -> None:
    output = tmp_path / "counts.json"
    result = bench("count", "protocol", "--requests", "200", "--repeats", "2", "-o", str(output))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].endswith("instructions per request")
    counts = pyperf.BenchmarkSuite.load(str(output)).get_benchmark("count/protocol/asyncio/1024B")
    first, second = counts.get_values()
    assert counts.get_unit() == "integer"
    assert abs(first - second) / first < 0.01
    assert 1_000 < first < 1_000_000  # per request, start-up excluded


def smoke_cell_baseline(path: Path, rps: float) -> Path:
    return write_results(path, {cell("protocol", "uvloop"): [rps * f for f in (0.99, 1.0, 1.01)]})


@pytest.mark.live
@pytest.mark.parametrize(
    ("baseline_rps", "status"), [(5_000_000.0, 1), (1_000.0, 0)], ids=["slower", "faster"]
)
def test_ci_gate_against_a_stored_baseline(
    tmp_path: Path, baseline_rps: float, status: int
) -> None:
    """A baseline far faster than any real run makes the candidate a regression, and far
    slower makes it an improvement; both with real servers and the real smoke path."""
    baseline = smoke_cell_baseline(tmp_path / "baseline.json", baseline_rps)
    history = tmp_path / "history"
    result = bench(
        "ci", "--baseline", str(baseline), "--apis", "protocol", "--loops", "uvloop", "--repeats", "3",
        "--duration", "0.3", "--warmup", "0.1", "--no-count", "--quiet",
        "-o", str(tmp_path / "ci"), "--history", str(history),
    )  # fmt: skip
    assert result.returncode == status, result.stdout + result.stderr
    row = next(
        line for line in result.stdout.splitlines() if "`tcp/protocol/uvloop/1024B/c10`" in line
    )
    assert ("REGRESSION" in row) == (status == 1)
    assert (tmp_path / "ci" / "compare.png").read_bytes().startswith(PNG)
    [entry] = history.glob("*.json")
    assert (
        pyperf.BenchmarkSuite.load(str(entry))
        .get_benchmark("tcp/protocol/uvloop/1024B/c10")
        .get_nrun()
        == 3
    )


@pytest.mark.live
def test_ci_needs_exactly_one_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "--baseline FILE or --base-python PATH" in refused(capsys, "ci", "-o", str(tmp_path))
    assert "no such file" in refused(capsys, "ci", "--baseline", str(tmp_path / "missing.json"))


@pytest.mark.live
def test_history_marks_regressions(tmp_path: Path) -> None:
    history = tmp_path / "history"
    for name, scale in (
        ("20260101T000000Z-aaa", 1.0),
        ("20260102T000000Z-bbb", 1.0),
        ("20260103T000000Z-ccc", 0.5),
    ):
        write_results(history / f"{name}.json", QUICK, seed=1, scale=scale)
    result = bench("history", str(history), "-o", str(tmp_path / "plots"))
    assert result.returncode == 0, result.stderr
    index = (tmp_path / "plots" / "history.md").read_text()
    assert "## `tcp/protocol/uvloop/1024B/c10` (1 regression(s))" in index
    assert (tmp_path / "plots" / "tcp-protocol-uvloop-1024B-c10.png").read_bytes().startswith(PNG)


@pytest.mark.live
def test_export_formats(tmp_path: Path) -> None:
    results = write_results(
        tmp_path / "r.json", {cell("protocol", "uvloop"): [100_000.0, 100_000.0, 100_000.0]}
    )
    github = json.loads(bench("export", str(results), "--format", "github-action-benchmark").stdout)
    main = next(entry for entry in github if entry["name"] == "tcp/protocol/uvloop/1024B/c10")
    assert main["unit"] == "ns" and main["value"] == pytest.approx(10_000)  # 1/100k s in ns
    assert set(main) == {"name", "unit", "value", "range", "extra"}
    output = tmp_path / "bmf.json"
    assert bench("export", str(results), "--format", "bencher", "-o", str(output)).returncode == 0
    bmf = json.loads(output.read_text())
    measure = bmf["tcp/protocol/uvloop/1024B/c10"]["time-per-request-ns"]
    assert (
        measure["value"] == pytest.approx(10_000)
        and measure["lower_value"] <= measure["upper_value"]
    )
    assert "latency-p99-ns" in bmf["tcp/protocol/uvloop/1024B/c10/p99"]


@pytest.mark.parametrize("api", ["picows", "aiohttp", "readline", "protocol"])
def test_counted_echoes_speak_each_servers_framing(start_server, api: str) -> None:
    """`bench count` once sent raw TCP to the WebSocket servers: picows waited forever and
    aiohttp answered with an HTTP error. The framing comes from the registry now."""
    server = start_server(api, "asyncio")
    echo_exactly(server.endpoint, api, 1024, 50)


def test_a_server_that_closes_is_one_line_not_a_spin() -> None:
    """A read of 0 bytes (the server closed) ends the count with a reason, at once."""
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def accept_and_close() -> None:
            connection, _ = listener.accept()
            connection.close()

        closer = threading.Thread(target=accept_and_close, daemon=True)
        closer.start()
        started = time.monotonic()
        with pytest.raises(CountFailed, match="closed the connection after 0 of 10 echoes"):
            echo_exactly(Endpoint(port=listener.getsockname()[1]), "protocol", 1024, 10)
        assert time.monotonic() - started < 5
        closer.join(timeout=5)


def test_compare_refuses_files_measured_with_different_load_generators(tmp_path: Path) -> None:
    """Every number moves with the client: refused in one line unless asked for."""
    table = {cell("protocol", "uvloop"): [100_000.0, 101_000.0, 99_000.0]}
    base = write_results(tmp_path / "base.json", table, generator="python")
    new = write_results(tmp_path / "new.json", table, generator="native")
    with pytest.raises(UsageError, match=r"python load generator and .* with native"):
        compare_files([base, new], 0.05)
    assert compare_files([base, new], 0.05, allow_client_change=True)
    assert compare_files(
        [new, write_results(tmp_path / "again.json", table, generator="native")], 0.05
    )
