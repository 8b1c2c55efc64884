"""The load generator against real servers: correctness, honest latency, faults, workers."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from hdrh.histogram import HdrHistogram
from helpers.commands import (
    GENERATORS,
    GLANCE,
    NATIVE,
    SHORT,
    client,
    client_json,
    load_command,
    start,
    start_client,
)
from helpers.matrix import API_LOOPS
from helpers.pool import ServerPool
from helpers.processes import still_running

from aionetbench.endpoints import Endpoint
from aionetbench.serverproc import ServerProcess
from clients.summary import Summary
from servers import framing_of

pytestmark = pytest.mark.live  # every test here starts servers or the suite's commands


# The load generator against every server API, on the loops its own two client loops are;
# each server loop's own conformance is tests/test_echo.py's and tests/test_faults.py's.
CLIENT_API_LOOPS = [p for p in API_LOOPS if p.values[1] in ("asyncio", "uvloop")]


@pytest.mark.parametrize(("api", "loop"), CLIENT_API_LOOPS)
def test_verified_echo_against_every_server(start_server, api, loop) -> None:
    """Every server at 1 B and at 70,000 B, side by side (it is correctness, not speed),
    each checked on its own: one size by each client loop, the pairing swapped from one
    server to the next, so every client loop meets every size across the matrix."""
    server = start_server(api, loop)
    protocol = framing_of(api)
    index = [tuple(p.values) for p in CLIENT_API_LOOPS].index((api, loop))
    loops = ("asyncio", "uvloop")[:: 1 if index % 2 else -1]
    runs = {
        (client_loop, size): start_client(
            server.endpoint, *GLANCE, "--loop", client_loop, "--size", size, protocol=protocol
        )
        for client_loop, size in zip(loops, ("1", "70000"), strict=True)
    }
    for (client_loop, size), run in runs.items():
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, (client_loop, size, err)
        summary = json.loads(out)
        assert summary["errors"] == 0
        assert summary["requests"] > 0
        assert summary["latency_us"]["p50"] > 0
        assert (
            HdrHistogram.decode(summary["latency_us"]["histogram"]).get_total_count()
            == summary["requests"]
        )


@pytest.mark.parametrize("protocol", ["tcp", "ws"])
def test_unix_and_tls(start_server, protocol: str) -> None:
    api = "websockets" if protocol == "ws" else "streams"
    for transport, extra in (("unix", ()), ("tls", ("--tls",))):
        server = start_server(api, "uvloop", transport)
        summary = client_json(server.endpoint, *SHORT, *extra, "--pipeline", "4", protocol=protocol)
        assert summary["errors"] == 0 and summary["requests"] > 0


def test_json_contract(start_server) -> None:
    server = start_server("protocol", "uvloop")
    summary = client_json(server.endpoint, *SHORT, "--server-pid", str(server.pid))
    for key in ("requests", "duration_s", "rps", "mib_s", "errors", "client_cpu", "client_bound"):
        assert key in summary
    assert set(summary["latency_us"]) >= {
        "p50",
        "p90",
        "p99",
        "p999",
        "max",
        "mean",
        "stdev",
        "histogram",
    }
    assert 0.25 < summary["duration_s"] < 0.5  # measured, not nominal
    assert summary["rps"] == pytest.approx(summary["requests"] / summary["duration_s"], rel=0.01)
    assert summary["server_cpu_us_per_request"] > 0
    assert Summary.from_json(summary).to_json() == summary  # typed without loss


def test_open_loop_json_is_typed_without_loss(start_server) -> None:
    """What the load generator prints parses into types and back unchanged; whether this
    point was saturated or client-limited is timing (judged in tests/test_sweep.py from
    summaries made to order), so it is not asserted here."""
    server = start_server("protocol", "uvloop")
    summary = client_json(server.endpoint, *SHORT, "--rate", "2000")
    parsed = Summary.from_json(summary)
    assert parsed.to_json() == summary
    assert parsed.schedule is not None and parsed.schedule.target_rate == 2000
    assert parsed.schedule.arrivals == "poisson" and parsed.latency_samples > 0


@pytest.mark.serial  # it blames the stall on the server: a client that keeps its schedule
def test_open_loop_sees_server_stalls(server_pool: ServerPool) -> None:
    """A server that blocks 200 ms each second: measured from intended send times, p99 shows
    the stall; a closed-loop client stops sending during it and barely notices."""
    server = server_pool.start_faulty("--stall-ms", "200")
    timing = ["--duration", "2", "--warmup", "0.3"]
    open_loop = client_json(server.endpoint, *timing, "--rate", "2000")
    closed_loop = client_json(server.endpoint, *timing)
    assert open_loop["target_rate"] == 2000
    assert open_loop["achieved_rate"] == pytest.approx(2000, rel=0.1)
    assert not open_loop["fell_behind"]
    assert open_loop["latency_us"]["p99"] >= 150_000
    assert closed_loop["latency_us"]["p99"] < 150_000


def test_an_unknown_host_is_one_line() -> None:
    """Every connection fails alike; only the first failure is reported, once."""
    result = client(Endpoint("nohost.invalid", 80), *SHORT, "--concurrency", "8")
    assert result.returncode == 2
    assert result.stderr.startswith("clients: cannot connect to nohost.invalid:80: ")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_crashed_worker_stops_the_run_at_once(start_server) -> None:
    server = start_server("protocol")
    load = start(load_command(server.endpoint, "--workers", "2", "--concurrency", "4",
                              "--duration", "30", "--warmup", "0.2"))  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        workers: list[psutil.Process] = []
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            workers = [
                child
                for child in psutil.Process(load.pid).children()
                if "spawn_main" in " ".join(child.cmdline())
            ]
        assert len(workers) == 2, "the workers did not start"
        wait_for_connections(server, 4)
        time.sleep(0.5)  # measuring
        workers[0].kill()
        killed = time.monotonic()
        _, err = load.communicate(timeout=25)
    finally:
        load.kill()
    assert time.monotonic() - killed < 10.0  # not the 30 s window, nor the deadline after it
    assert load.returncode == 1
    assert "crashed (exit code -9)" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["--size", "0"],
        ["--rate", "0"],
        ["--rate", "-5"],
        ["--loop", "trio"],
        ["--concurrency", "2", "--workers", "3"],
    ],
)
def test_bad_arguments(args: list[str]) -> None:
    result = client(Endpoint(port=1), *args)
    assert result.returncode == 2
    assert "usage:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("target", ["127.0.0.1:99999", "127.0.0.1:0", "[::1]:65536"])
def test_a_port_outside_the_range_is_an_argparse_error(target: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "clients", "tcp", "--connect", target],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert "usage:" in result.stderr and "outside 1-65535" in result.stderr
    assert "Traceback" not in result.stderr and "refused" not in result.stderr


@pytest.mark.parametrize("tls", [(), ("--tls",)], ids=["tcp", "tls"])
@pytest.mark.parametrize("program", GENERATORS)
def test_a_corrupted_byte_is_caught(
    server_pool: ServerPool, program: str, tls: tuple[str, ...]
) -> None:
    """Inside TLS too: the record is sound, the plaintext echoed is not."""
    server = server_pool.start_faulty("--corrupt-after", "500", *tls)
    result = client(server.endpoint, *SHORT, "--json", *tls, program=program)
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert summary["errors"] == 1
    assert summary["error_messages"][0].startswith("reply differs from what was sent at byte ")


@pytest.mark.parametrize("program", GENERATORS)
def test_connection_refused_is_one_line(refused_endpoint: Endpoint, program: str) -> None:
    result = client(refused_endpoint, *SHORT, program=program)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        == f"{program}: cannot connect to {refused_endpoint}: Connection refused"
    )


@pytest.mark.parametrize("program", GENERATORS)
@pytest.mark.parametrize("protocol", ["tcp", "ws"])
def test_server_death_mid_run(start_server, protocol: str, program: str) -> None:
    """Killed once the load runs: the run ends at once (not at its 20 s window's end),
    reports what it measured before, and names the lost connections."""
    server: ServerProcess = start_server("websockets" if protocol == "ws" else "protocol")
    load = start(load_command(server.endpoint, "--duration", "20", "--warmup", "0.2", "--json",
                              protocol=protocol, program=program))  # fmt: skip
    try:
        wait_for_connections(server, 10)
        time.sleep(0.5)  # measuring
        server.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        out, err = load.communicate(timeout=20)
    finally:
        load.kill()
    assert time.monotonic() - killed < 10.0  # far under the window: it did not wait for it
    assert load.returncode == 1 and "Traceback" not in err
    summary = json.loads(out)
    assert summary["requests"] > 0  # what was measured before the death is reported
    assert summary["errors"] == 10
    assert summary["error_messages"][0].startswith("connection lost")


@pytest.mark.parametrize("program", GENERATORS)
@pytest.mark.parametrize("rate", [(), ("--rate", "4000")], ids=["closed", "open"])
def test_workers_merge_exactly(start_server, program: str, rate: tuple[str, ...]) -> None:
    server = start_server("protocol", "uvloop")
    summary = client_json(server.endpoint, *SHORT, "--workers", "2", "--concurrency", "5",
                          *rate, program=program)  # fmt: skip
    parts = summary["per_worker"]
    assert [p["connections"] for p in parts] == [3, 2]
    assert summary["requests"] == sum(p["requests"] for p in parts)
    assert summary["rps"] == pytest.approx(sum(p["rps"] for p in parts), rel=0.05)
    merged = HdrHistogram.decode(summary["latency_us"]["histogram"])
    decoded = [HdrHistogram.decode(p["histogram"]) for p in parts]
    assert merged.get_total_count() == sum(h.get_total_count() for h in decoded)
    assert merged.get_total_count() == summary["latency_samples"]
    assert merged.get_max_value() == max(h.get_max_value() for h in decoded)
    assert min(h.get_min_value() for h in decoded) == merged.get_min_value()


@pytest.mark.parametrize("program", GENERATORS)
def test_ctrl_c_is_one_line_and_exit_130(start_server, program: str) -> None:
    """Ctrl-C reaches the whole process group, as from a terminal; nothing is left running."""
    server = start_server("protocol", "uvloop")
    load = start(
        load_command(server.endpoint, "--duration", "20", "--warmup", "0.2", program=program),
        start_new_session=True,
    )
    try:
        time.sleep(1.5)
        children = psutil.Process(load.pid).children(recursive=True)
        os.killpg(load.pid, signal.SIGINT)
        _, err = load.communicate(timeout=10)
    finally:
        load.kill()
    assert load.returncode == 130, err
    assert err.strip() == f"{program}: interrupted"
    assert not still_running(children)


@pytest.mark.parametrize("program", GENERATORS)
@pytest.mark.parametrize(("api", "protocol"), [("protocol", "tcp"), ("websockets", "ws")])
def test_the_servers_cost_is_read_from_its_own_process(
    start_server, program: str, api: str, protocol: str
) -> None:
    """With --server-pid both load generators read the server's CPU time and switches over
    the window from /proc (how they agree in figures is clients.selfbench's target 9): a
    single-threaded server uses at most one core, and every request costs it something."""
    server = start_server(api, "uvloop")
    # Closed loop keeps the server's core busy: its CPU is read in 10 ms ticks, and an
    # open-loop trickle can use less than one in a short window.
    load = (*SHORT, "--server-pid", str(server.pid))
    summary = client_json(server.endpoint, *load, protocol=protocol, program=program)
    assert summary["errors"] == 0 and summary["requests"] > 0
    assert summary["generator"] == ("native" if program == NATIVE else "python")
    assert 0 < summary["server_cpu"] <= 1.05
    assert summary["server_cpu_us_per_request"] > 0
    assert summary["server_cpu_us_per_request"] == pytest.approx(
        summary["server_user_us_per_request"] + summary["server_system_us_per_request"]
    )
    without = client_json(server.endpoint, *SHORT, protocol=protocol, program=program)
    assert "server_cpu" not in without


def wait_for_connections(server: ServerProcess, count: int) -> None:
    """Until the server holds `count` established connections (the load is running)."""
    deadline = time.monotonic() + 20
    while (
        sum(c.status == "ESTABLISHED" for c in psutil.Process(server.pid).net_connections()) < count
    ):
        assert time.monotonic() < deadline, "the load generator did not connect"
        time.sleep(0.02)
