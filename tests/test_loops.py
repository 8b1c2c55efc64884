"""The loops registry: every name resolves or says why not in one line; a loop a user names
(MODULE:FACTORY) runs servers, clients and the orchestrator; what a loop lacks is refused
as unsupported; a loop without a wheel for this Python is said, not failed."""

import json
import subprocess
import sys
from pathlib import Path

import pyperf
import pytest
from helpers.commands import HELPERS, assert_one_line_error, bench, importable, servers_cli

from aionetbench.errors import UNSUPPORTED, UsageError
from aionetbench.loops import LOOPS, LoopUnavailable, loop_named, resolve
from aionetbench.serverproc import ServerProcess, server_command
from bench.analyse.claims import mechanics
from bench.measure.pythons import found, server_environment
from bench.store.explained import Explained
from clients.summary import Summary

PLUGIN = "loop_plugin:new_event_loop"


@pytest.mark.parametrize("name", list(LOOPS))
def test_every_registered_loop_resolves_or_says_why_in_one_line(name: str) -> None:
    assert loop_named(name) is LOOPS[name]
    try:
        loop = resolve(name)()
    except LoopUnavailable as error:
        assert str(error).startswith(f"{UNSUPPORTED}loop {name}: ")
        assert "\n" not in str(error)
        return
    try:
        assert loop.run_until_complete(echo_one_future(loop)) == 42
    finally:
        loop.close()


async def echo_one_future(loop) -> int:
    future = loop.create_future()
    loop.call_soon(future.set_result, 42)
    return await future


def test_names_parse_to_layers_and_custom_loops_or_a_usage_error() -> None:
    layered = loop_named("veloxloop+aiofastnet")
    assert (layered.base, layered.module, layered.package) == (
        "veloxloop",
        "aiofastnet",
        "aiofastnet",
    )
    custom = loop_named(PLUGIN)
    assert (custom.module, custom.factory, custom.package) == ("loop_plugin", "new_event_loop", "")
    for bad in ("nosuch", "uvloop+nosuch", "a:b:c", "3x:f", ""):
        with pytest.raises(UsageError, match="unknown loop"):
            loop_named(bad)
    with pytest.raises(UsageError, match="no callable 'NOT_A_FACTORY'"):
        resolve("tests.helpers.loop_plugin:NOT_A_FACTORY")  # importable from the checkout's root


@pytest.mark.live
def test_a_server_refuses_what_its_loop_lacks_in_one_line() -> None:
    refused = [(name, api) for name, loop in LOOPS.items() for api, _ in loop.no_apis]
    assert refused, "the registry declares what no loop lacks: nothing is tested here"
    for name, api in refused:
        result = servers_cli(api, "--loop", name, "--port", "0")
        why = LOOPS[name].lacks(api)
        assert_one_line_error(result, UNSUPPORTED)
        assert why in result.stderr or f"loop {name}:" in result.stderr, result.stderr


@pytest.mark.live
def test_an_unknown_loop_is_an_argparse_error_everywhere() -> None:
    for command in (["servers", "protocol"], ["clients", "tcp", "--connect", "127.0.0.1:1"]):
        result = subprocess.run([sys.executable, "-m", *command, "--loop", "nosuch"],
                                capture_output=True, text=True, timeout=30)  # fmt: skip
        assert result.returncode == 2 and "unknown loop 'nosuch'" in result.stderr
        assert "Traceback" not in result.stderr
    result = bench("run", "--loops", "asyncio,nosuch", "--apis", "protocol")
    assert result.returncode == 2 and "unknown loop 'nosuch'" in result.stderr


@pytest.mark.live
def test_a_loop_named_on_the_command_line_serves_loads_and_is_recorded(tmp_path: Path) -> None:
    env = importable(HELPERS)
    command = server_command("protocol", loop=PLUGIN)
    with ServerProcess(command, stderr_path=tmp_path / "server.err", env=env) as server:
        result = subprocess.run(
            [sys.executable, "-m", "clients", "tcp", "--connect", str(server.endpoint),
             "--loop", PLUGIN, "--requests", "2000", "--size", "3000", "--json"],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = Summary.from_json(json.loads(result.stdout))
    assert summary.requests == 2000 and summary.errors == 0
    output = tmp_path / "plugin.json"
    result = bench("run", "--apis", "protocol", "--loops", f"asyncio,{PLUGIN}", "--repeats", "1",
                   "--duration", "0.3", "--warmup", "0.1", "--rates", "none", "--quiet", "-o", str(output), env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    suite = pyperf.BenchmarkSuite.load(str(output))
    assert f"tcp/protocol/{PLUGIN}/1024B/c10" in suite.get_benchmark_names()
    assert suite.get_benchmarks()[0].get_metadata()["loop_versions"] == f"{PLUGIN} not packaged"


@pytest.mark.live
def test_a_loop_that_cannot_run_here_makes_unsupported_cells(tmp_path: Path) -> None:
    """rsloop has no wheel for this machine: its cells are recorded as unsupported, the
    others measured, and the run succeeds."""
    try:
        resolve("rsloop")
        pytest.skip("rsloop is installed here")
    except LoopUnavailable:
        pass
    output = tmp_path / "r.json"
    result = bench("run", "--apis", "protocol", "--loops", "asyncio,rsloop", "--repeats", "1",
                   "--duration", "0.3", "--warmup", "0.1", "--rates", "none", "--quiet", "-o", str(output))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        "UNSUPPORTED tcp/protocol/rsloop/1024B/c10: loop rsloop: rsloop is not installed"
        in result.stderr
    )
    section = json.loads(output.read_text())["aionetbench"]
    assert [u["cell"] for u in section["unsupported"]] == ["tcp/protocol/rsloop/1024B/c10"]
    names = pyperf.BenchmarkSuite.load(str(output)).get_benchmark_names()
    assert "tcp/protocol/asyncio/1024B/c10" in names
    assert not [name for name in names if "rsloop" in name]


@pytest.mark.live
def test_extras_say_in_one_line_each_loop_without_a_wheel() -> None:
    """`make` installs the optional loops from wheels only: what has none here is one line
    and exit 0 (pip is asked, from this machine's index)."""
    result = subprocess.run([sys.executable, "-m", "aionetbench.extras"], capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        package = line.split(":", 1)[0]
        assert package in {loop.package for loop in LOOPS.values()}
        assert "no wheel for this Python and machine" in line
        with pytest.raises(LoopUnavailable):
            resolve(next(n for n, loop in LOOPS.items() if loop.package == package))


URINGCORE_PYTHON = "3.13"


@pytest.mark.live
@pytest.mark.shares("pythons")
@pytest.mark.skipif(URINGCORE_PYTHON not in found(), reason="no Python 3.13 here")
@pytest.mark.xfail(
    strict=True,
    reason="uringcore 0.9.1: its receive buffers run out after ~1,000 reads "
    "(RuntimeError: No buffers available) and the echo stops",
)
def test_uringcore_echoes_on_its_python(tmp_path: Path) -> None:
    """uringcore has wheels for 3.13 only: its conformance starts with a verified echo on
    that Python's server environment (the one `bench run --pythons 3.13` uses)."""
    python = server_environment(URINGCORE_PYTHON)
    command = server_command("protocol", loop="uringcore", python=python)
    with ServerProcess(command, stderr_path=tmp_path / "server.err") as server:
        result = subprocess.run(
            [sys.executable, "-m", "clients", "tcp", "--connect", str(server.endpoint),
             "--requests", "5000", "--concurrency", "10", "--json"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Summary.from_json(json.loads(result.stdout)).errors == 0


def test_explain_says_how_each_loop_waits_reads_and_writes() -> None:
    """An io_uring loop waits in io_uring_enter: a loop pass all the same, and said so."""

    def row(loop: str, syscalls: dict[str, float]) -> Explained:
        return Explained("protocol", loop, 1000, syscalls, None, 1.0, 5.0, 0.0, 0.0, None, None, 10)

    rows = [
        row("veloxloop", {"recvfrom": 1.0, "sendto": 1.0, "io_uring_enter": 0.14}),
        row("asyncio", {"recvfrom": 1.0, "sendto": 1.0, "epoll_wait": 0.16, "getpid": 0.001}),
    ]
    assert mechanics(rows) == [
        "**asyncio** (protocol), per request: waits in epoll_wait 0.16; reads with recvfrom 1.00; "
        "writes with sendto 1.00.",
        "**veloxloop** (protocol), per request: waits in io_uring_enter 0.14; reads with "
        "recvfrom 1.00; writes with sendto 1.00.",
    ]
    assert rows[0].loop_passes == 0.14
    # libuv waits in epoll and batches epoll_ctl through io_uring: only epoll is a pass.
    assert row("uvloop", {"epoll_pwait": 0.10, "io_uring_enter": 0.10}).loop_passes == 0.10
