"""The native load generator (clients/native) against real servers, beside the Python one:
the same verification, flags and faults; its histograms and schedules checked exactly."""

import json
import os
import signal
import statistics
import subprocess
import threading
import time
from array import array

import numpy as np
import psutil
import pytest
from hdrh.histogram import HdrHistogram
from helpers.commands import SHORT, client, client_json, load_command, start
from helpers.pool import ServerPool
from helpers.stalls import assert_the_stall_is_seen

from aionetbench.endpoints import Endpoint
from aionetbench.errors import UsageError
from bench.measure.options import clients_from
from clients import native, stats
from clients.native.workers import counts_of
from clients.spec import LoadSpec
from clients.summary import Summary

NATIVE = "clients.native"
MAX_ROUNDS = 6  # of one run with each client, for the server cost to settle
pytestmark = pytest.mark.skipif(
    native.native_generator() is None, reason="the native load generator is not built"
)


def native_output(*args: str, stdin: str = "") -> str:
    result = subprocess.run(
        [str(native.BINARY), *args], input=stdin, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_its_histogram_equals_one_recorded_from_the_same_values() -> None:
    """Every bucket: values from 1 ns past the 60 s clamp, dense where latencies are."""
    rng = np.random.default_rng(7)
    values = np.concatenate([
        rng.lognormal(np.log(50_000), 1.5, 20_000).astype(np.int64),
        np.array([0, 1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 10**9, 60 * 10**9, 7 * 10**10]),
    ])  # fmt: skip
    pairs = json.loads(native_output("--histogram", stdin="\n".join(map(str, values.tolist()))))
    native_made = stats.recorded_from(counts_of(pairs), 0.0, 0.0)
    recorded = stats.record([array("q", values.tolist())])
    mine, theirs = (HdrHistogram.decode(r.histogram) for r in (native_made, recorded))
    assert native_made.count == recorded.count == len(values)
    assert list(mine.counts) == list(theirs.counts)
    assert mine.get_max_value() == theirs.get_max_value()
    assert mine.get_value_at_percentile(99) == theirs.get_value_at_percentile(99)


@pytest.mark.parametrize("rate", [1_000.0, 150_000.0])
def test_poisson_gaps_have_the_right_mean_and_spread(rate: float) -> None:
    due = np.array(native_output("--schedule", str(rate), "poisson", "200000").split(), dtype=float)
    gaps = np.diff(due)
    assert gaps.mean() == pytest.approx(1e9 / rate, rel=0.02)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.03)  # exponential: CV 1
    assert (gaps >= 0).all()


def test_uniform_gaps_are_constant_and_do_not_drift() -> None:
    due = np.array(native_output("--schedule", "3000", "uniform", "300000").split(), dtype=np.int64)
    assert due[0] == 0
    assert set(np.diff(due).tolist()) <= {333_333, 333_334}
    assert due[-1] == int(299_999 * 1e9 / 3000)


@pytest.mark.live
@pytest.mark.serial  # server CPU per request, compared across two runs
def test_both_clients_agree_on_what_they_verify_and_on_server_cost(start_server) -> None:
    """Against protocol and websockets (every framing is verified in the framing test), the
    same open-loop load from each client, interleaved (Python,
    native, Python, native): both verify every echo, and they measure the same server CPU
    per request, within 15%: the medians of two runs each, or of up to MAX_ROUNDS when
    the machine's noise (one short window here varies by 20% from the next) leaves them apart. Pinned apart, as bench pins
    them: sharing a core with a client changes what the server's requests cost."""
    cpus = os.sched_getaffinity(0)
    if len(cpus) >= 2:
        server_cpu, *client_cpus = sorted(cpus)
        os.sched_setaffinity(0, client_cpus)  # the clients inherit it
    try:
        agree_on_cost(start_server, server_cpu if len(cpus) >= 2 else None)
    finally:
        os.sched_setaffinity(0, cpus)


def agree_on_cost(start_server, server_cpu: int | None) -> None:
    # Rates at which each server's CPU over the window is 20 or more of the kernel's 10 ms ticks.
    for api, loop, rate in (("protocol", "uvloop", "25000"), ("websockets", "uvloop", "8000")):
        server = start_server(api, loop)
        if server_cpu is not None:
            os.sched_setaffinity(server.pid, {server_cpu})
        protocol = {"websockets": "ws", "readline": "line"}.get(api, "tcp")
        load = ["--rate", rate, "--duration", "0.8", "--warmup", "0.2",
                "--server-pid", str(server.pid)]  # fmt: skip
        costs: dict[str, list[float]] = {"clients": [], NATIVE: []}
        for round_ in range(MAX_ROUNDS):
            for program in ("clients", NATIVE):
                summary = client_json(server.endpoint, *load, protocol=protocol, program=program)
                assert summary["errors"] == 0 and summary["requests"] > 0.75 * float(rate), (
                    api,
                    program,
                )
                assert summary["generator"] == ("native" if program == NATIVE else "python")
                costs[program].append(summary["server_cpu_us_per_request"])
            python_us, native_us = (statistics.median(costs[p]) for p in ("clients", NATIVE))
            if round_ >= 1 and native_us == pytest.approx(python_us, rel=0.15):
                break
        assert native_us == pytest.approx(python_us, rel=0.15), (api, costs)


@pytest.mark.live
@pytest.mark.parametrize(
    ("protocol", "api"),
    [("tcp", "protocol"), ("tcp", "streams"), ("tcp", "native"), ("ws", "websockets"),
     ("line", "readline")],
)  # fmt: skip
def test_every_framing_over_tcp_and_unix(start_server, protocol: str, api: str) -> None:
    for transport in ("tcp", "unix"):
        server = start_server(api, "uvloop", transport)
        for size in ("1", "70000"):
            summary = client_json(server.endpoint, *SHORT, "--size", size, "--pipeline", "3",
                                  protocol=protocol, program=NATIVE)  # fmt: skip
            assert summary["errors"] == 0 and summary["requests"] > 10, (transport, size)
            histogram = HdrHistogram.decode(summary["latency_us"]["histogram"])
            assert histogram.get_total_count() == summary["latency_samples"]


@pytest.mark.live
def test_exactly_n_echoes(start_server) -> None:
    server = start_server("protocol", "asyncio")
    summary = client_json(server.endpoint, "--requests", "1234", "--concurrency", "3",
                          "--pipeline", "2", program=NATIVE)  # fmt: skip
    assert summary["requests"] == summary["latency_samples"] == 1234


@pytest.mark.live
def test_a_corrupted_byte_is_caught(server_pool: ServerPool) -> None:
    server = server_pool.start_faulty("--corrupt-after", "500")
    result = client(server.endpoint, *SHORT, "--json", program=NATIVE)
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert summary["errors"] == 1
    assert summary["error_messages"][0].startswith("reply differs from what was sent at byte ")


@pytest.mark.live  # not serial: a 200 ms stall dwarfs what a busy machine adds
@pytest.mark.parametrize("arrivals", ["poisson", "uniform"])
def test_stall_server_open_loop_at_several_rates(server_pool: ServerPool, arrivals: str) -> None:
    """A server blocking 200 ms each second: p99 from intended send times shows it."""
    server = server_pool.start_faulty("--stall-ms", "200")
    for rate in (500, 4000):
        summary = client_json(server.endpoint, "--duration", "1.5", "--warmup", "0.3",
                              "--rate", str(rate), "--arrivals", arrivals, program=NATIVE)  # fmt: skip
        assert_the_stall_is_seen(summary, rate, arrivals)


@pytest.mark.live
def test_workers_merge_exactly(start_server) -> None:
    server = start_server("protocol", "uvloop")
    summary = client_json(server.endpoint, *SHORT, "--workers", "2", "--concurrency", "5",
                          "--rate", "4000", program=NATIVE)  # fmt: skip
    parts = summary["per_worker"]
    assert [p["connections"] for p in parts] == [3, 2]
    assert summary["requests"] == sum(p["requests"] for p in parts)
    merged = HdrHistogram.decode(summary["latency_us"]["histogram"])
    decoded = [HdrHistogram.decode(p["histogram"]) for p in parts]
    assert merged.get_total_count() == sum(h.get_total_count() for h in decoded)
    assert merged.get_total_count() == summary["latency_samples"]
    assert summary["sent_rate"] == pytest.approx(4000, rel=0.1)


@pytest.mark.live
def test_connection_refused_is_one_line(refused_endpoint: Endpoint) -> None:
    result = client(refused_endpoint, *SHORT, program=NATIVE)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"clients.native: cannot connect to {refused_endpoint}: Connection refused"
    )


@pytest.mark.live
def test_tls_is_refused_in_one_line(start_server) -> None:
    server = start_server("protocol", "asyncio", "tls")
    result = client(server.endpoint, *SHORT, "--tls", program=NATIVE)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "clients.native: the native load generator does not do TLS: use python -m clients"
    )


@pytest.mark.live
@pytest.mark.serial  # its assertions depend on timing
def test_server_death_mid_run(start_server) -> None:
    server = start_server("protocol", "uvloop")
    threading.Timer(1.0, server.process.send_signal, [signal.SIGKILL]).start()
    started = time.monotonic()
    result = client(server.endpoint, "--duration", "20", "--warmup", "0.2", "--json",
                    program=NATIVE)  # fmt: skip
    assert time.monotonic() - started < 4.0
    assert result.returncode == 1 and "Traceback" not in result.stderr
    summary = json.loads(result.stdout)
    assert summary["requests"] > 0 and summary["errors"] == 10
    assert summary["error_messages"][0].startswith("connection lost")


@pytest.mark.live
@pytest.mark.parametrize("program", ["clients", NATIVE])
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
    assert not [child for child in children if child.is_running() and child.status() != "zombie"]


def test_the_orchestrator_falls_back_to_the_python_client(
    monkeypatch: pytest.MonkeyPatch, tmp_path, capsys
) -> None:
    """Not built (no compiler): by default one line and the Python client everywhere;
    asked for by name, a usage error."""
    monkeypatch.setattr(native, "BINARY", tmp_path / "load")
    clients = clients_from(None)
    assert clients.preferred.name == clients.fallback.name == "python"
    assert "not built" in capsys.readouterr().err
    with pytest.raises(UsageError, match="not built"):
        clients_from("native")


def test_tls_loads_go_to_the_python_client() -> None:
    clients = clients_from("native")
    plain = LoadSpec("tcp", Endpoint(port=1))
    assert clients.for_spec(plain).name == "native"
    assert clients.for_spec(LoadSpec("tcp", Endpoint(port=1), tls=True)).name == "python"
    assert clients_from("python").for_spec(plain).name == "python"


def test_its_summary_is_typed_without_loss(start_server) -> None:
    server = start_server("protocol", "uvloop")
    for extra in ([], ["--rate", "3000"]):
        summary = client_json(server.endpoint, *SHORT, *extra, "--server-pid", str(server.pid),
                              program=NATIVE)  # fmt: skip
        assert Summary.from_json(summary).to_json() == summary
        assert summary["loop"] == "epoll" and summary["generator"] == "native"
        # CPU time is counted in 10 ms ticks: a short open-loop window may see none.
        assert summary["server_cpu_us_per_request"] > 0 or extra
