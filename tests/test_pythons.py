"""Server interpreters: found on PATH, via pyenv, or not at all; and results that record the
servers' own Python, not the orchestrator's."""

import os
import subprocess
import sys
from pathlib import Path

import pyperf
import pytest
from helpers.commands import bench

from aionetbench.errors import UsageError
from bench.measure.pythons import found, pyenv_root, resolve, version_of
from bench.plan.profiles import Plan

PYENV_313 = sorted(pyenv_root().glob("versions/3.13.*/bin/python3.13"))
needs_313 = pytest.mark.skipif(not PYENV_313, reason="no Python 3.13 in pyenv here")

# The tests that set up .venvs/3.13 run one after another (tests/test_loops.py runs uringcore
# on it too: one server environment for both).
pytestmark = pytest.mark.shares("pythons")


@pytest.fixture
def bare_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """PATH holding only an empty directory of ours and the system's, no pyenv shims."""
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    return directory


@needs_313
def test_found_on_path(bare_path: Path) -> None:
    (bare_path / "python3.13").symlink_to(PYENV_313[-1])
    assert resolve("3.13") == str(bare_path / "python3.13")


@needs_313
def test_found_via_pyenv(bare_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "pyenv" / "versions" / "3.13.99" / "bin"
    fake.mkdir(parents=True)
    (fake / "python3.13").symlink_to(PYENV_313[-1])
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    assert resolve("3.13") == str(fake / "python3.13")


@pytest.mark.live
def test_not_found_is_one_line_and_exit_2(bare_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no Python 3\.99 found"):
        resolve("3.99")
    for spec in ("3.99", "/nonexistent/python"):
        result = subprocess.run(
            [sys.executable, "-m", "bench", "ab", "--base-python", spec, "--apis", "protocol"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_broken_pyenv_shim_is_not_taken(bare_path: Path) -> None:
    shim = bare_path / "python3.98"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.98: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    assert version_of(str(shim)) is None
    with pytest.raises(UsageError):
        resolve("3.98")


@pytest.mark.live
@needs_313
def test_results_record_each_servers_own_python(tmp_path: Path) -> None:
    """`bench ab` with servers on 3.13 and on this Python (3.11): each file says which."""
    result = bench("ab", "--base-python", "3.13", "--apis", "protocol", "--loops", "asyncio",
                   "--repeats", "1", "--duration", "0.3", "--warmup", "0.1", "--rates", "none",
                   "--quiet", "-o", str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr
    versions = {}
    for side in ("base", "new"):
        metadata = (
            pyperf.BenchmarkSuite.load(str(tmp_path / f"{side}.json"))
            .get_benchmarks()[0]
            .get_metadata()
        )
        versions[side] = metadata["python_version"]
        assert metadata["orchestrator_python_version"] == ".".join(map(str, sys.version_info[:3]))
        assert metadata["uvloop_version"] != "not installed"
    assert versions["base"].startswith("3.13.")
    assert versions["new"] == ".".join(map(str, sys.version_info[:3]))
    assert "servers on CPython 3.13." in result.stdout


def test_found_includes_this_python() -> None:
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in found()


def test_a_plan_over_pythons_interleaves_them_and_runs_native_once() -> None:
    plan = Plan(apis=("protocol", "native"), loops=("asyncio",), pythons=("3.11", "3.13"))
    assert [c.name for c in plan.cells] == [
        "tcp/protocol/asyncio/py3.11/1024B/c10",
        "tcp/protocol/asyncio/py3.13/1024B/c10",
        "tcp/native/epoll/1024B/c10",
    ]


@pytest.mark.live
def test_an_unknown_python_stops_the_run_before_anything_runs(tmp_path: Path) -> None:
    output = tmp_path / "r.json"
    result = bench("run", "--pythons", "3.11,3.99", "--apis", "protocol", "-o", str(output))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "no Python 3.99 found" in result.stderr
    assert not output.exists()


@pytest.mark.live
@needs_313
def test_one_run_over_two_pythons_names_and_describes_each(tmp_path: Path) -> None:
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    output = tmp_path / "r.json"
    result = bench("run", "--pythons", f"3.13,{own}", "--apis", "protocol", "--loops", "asyncio",
                   "--repeats", "1", "--duration", "0.3", "--warmup", "0.1", "--rates", "none",
                   "--quiet", "-o", str(output))  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = {}
    for benchmark in pyperf.BenchmarkSuite.load(str(output)).get_benchmarks():
        metadata = benchmark.get_metadata()
        seen[benchmark.get_name()] = (metadata["server_python"], metadata["python_version"])
    for label in ("3.13", own):
        python, version = seen[f"tcp/protocol/asyncio/py{label}/1024B/c10"]
        assert python == label and version.startswith(label + ".")
    report = bench("report", str(output), "-o", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Python versions" in text and f"3.13 vs {own}" in text
    assert (tmp_path / "report" / "pythons.png").stat().st_size > 10_000
