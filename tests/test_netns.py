"""Network paths: the server and the load generator in two namespaces of their own, joined
by a veth pair, created per session and always removed. Needs root and namespaces; skipped
with the reason otherwise."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyperf
import pytest
from helpers.commands import bench, start
from helpers.processes import descendants, still_running

from bench.measure.netns import PREFIX, namespaces


def namespaces_work() -> str | None:
    """Why namespaces cannot be tested here, or None."""
    if os.geteuid() != 0:
        return "needs root (CAP_NET_ADMIN) to create network namespaces"
    probe = f"{PREFIX}{os.getpid()}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None


WHY_NOT = namespaces_work()
pytestmark = [
    pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or ""),
    pytest.mark.live,
    pytest.mark.shares("netns"),  # each checks what namespaces are left behind
]
TINY = ["--repeats", "1", "--duration", "0.3", "--warmup", "0.1", "--rates", "none", "--quiet"]


def ours() -> list[str]:
    return [name for name in namespaces() if name.startswith(PREFIX)]


def test_tcp_and_websocket_over_veth_and_gbit(tmp_path: Path) -> None:
    output = tmp_path / "net.json"
    result = bench("run", "--apis", "protocol,websockets", "--loops", "asyncio",
                   "--network", "veth,gbit", *TINY, "-o", str(output))  # fmt: skip
    assert result.returncode == 0, result.stderr
    benchmarks = {b.get_name(): b for b in pyperf.BenchmarkSuite.load(str(output)).get_benchmarks()}
    for api in ("protocol", "websockets"):
        for path in ("veth", "gbit"):
            benchmark = benchmarks[f"tcp/{api}/asyncio/{path}/1024B/c10"]
            assert benchmark.get_metadata()["network"] == path
            run = benchmark.get_runs()[0].get_metadata()
            assert run["requests"] > 0 and run["server_cpu"] > 0  # the server's own PID
    assert ours() == []


def test_a_failing_server_leaves_nothing_behind(tmp_path: Path) -> None:
    # rloop has no TLS: the server exits 2 inside its namespace, the cell is unsupported.
    output = tmp_path / "net.json"
    result = bench("run", "--apis", "protocol", "--loops", "rloop", "--transport", "tls",
                   "--network", "veth", *TINY, "-o", str(output))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "UNSUPPORTED tls/protocol/rloop/veth/1024B/c10" in result.stderr
    assert ours() == []


def test_sigterm_saves_results_and_removes_the_namespaces(tmp_path: Path) -> None:
    output = tmp_path / "net.json"
    session = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", "--apis", "protocol", "--loops", "asyncio",
         "--network", "veth", "--repeats", "3", "--duration", "2", "--warmup", "0.1",
         "--rates", "none", "--quiet", "-o", str(output)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not output.exists() and time.monotonic() < deadline:  # one run recorded
            time.sleep(0.1)
        assert any(f"{PREFIX}{session.pid}-" in name for name in ours())
        session.send_signal(signal.SIGTERM)
        _, err = session.communicate(timeout=30)
    finally:
        session.kill()
    assert session.returncode == 130, err
    assert json.loads(output.read_text())["aionetbench"]["interrupted"] is True
    assert ours() == []


def test_a_killed_sessions_namespaces_are_removed_first(tmp_path: Path) -> None:
    stale = f"{PREFIX}99999999-veth-server"  # no such PID: its session is gone
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        result = bench("run", "--apis", "protocol", "--loops", "asyncio", "--network", "veth",
                       *TINY, "-o", str(tmp_path / "net.json"))  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert stale not in namespaces()
    finally:
        subprocess.run(["ip", "netns", "delete", stale], capture_output=True)


def netem_missing() -> bool:
    probe = f"{PREFIX}{os.getpid()}-netem"
    subprocess.run(["ip", "netns", "add", probe], check=True)
    try:
        added = subprocess.run(
            ["tc", "-n", probe, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
            capture_output=True, text=True,
        )  # fmt: skip
        return "Specified qdisc kind is unknown" in added.stderr
    finally:
        subprocess.run(["ip", "netns", "delete", probe], capture_output=True)


@pytest.mark.parametrize("path", ["lan", "wan"])
def test_delay_paths_are_refused_cleanly_without_netem(tmp_path: Path, path: str) -> None:
    if not netem_missing():
        pytest.skip("this kernel has sch_netem, so lan and wan run")
    output = tmp_path / "net.json"
    result = bench("run", "--apis", "protocol", "--network", path, *TINY, "-o", str(output))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "lacks sch_netem" in result.stderr
    assert not output.exists() and ours() == []


def test_without_root_one_line_and_exit_2(tmp_path: Path) -> None:
    nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
    result = subprocess.run(
        [*nobody, sys.executable, "-m", "bench", "run", "--network", "veth", "-o",
         str(tmp_path / "net.json")],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "bench: network paths need root (CAP_NET_ADMIN) to create namespaces; run as root "
        "or use --network loopback"
    )


def test_kill_9_of_a_run_leaves_no_server_and_no_namespace(tmp_path: Path) -> None:
    """SIGKILL cannot be caught: the server dies with the run (the kernel's parent-death
    signal) and the namespaces with it (a reaper that waits on a pipe from the run)."""
    command = [sys.executable, "-m", "bench", "run", "--apis", "protocol", "--loops", "asyncio",
               "--network", "veth", "--repeats", "1", "--duration", "10", "--rates", "none",
               "--quiet", "-o", str(tmp_path / "killed.json")]  # fmt: skip
    run = start(command)
    try:
        deadline = time.monotonic() + 30
        while not any("servers" in line for line in descendants(run.pid).values()):
            assert time.monotonic() < deadline and run.poll() is None, run.stderr
            time.sleep(0.05)
        started = [p for p, line in descendants(run.pid).items() if line[:1] != ["sh"]]
        assert ours(), "no namespace was made"
        run.kill()
        run.wait()
    finally:
        run.kill()
    deadline = time.monotonic() + 10
    while ours() or still_running(started):
        assert time.monotonic() < deadline, (ours(), still_running(started))
        time.sleep(0.05)
