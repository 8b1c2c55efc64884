"""The native load generator (clients/native) against real servers, beside the Python one:
the same verification, flags and faults; its histograms and schedules checked exactly."""

import contextlib
import json
import shutil
import subprocess
import time
from array import array
from pathlib import Path

import numpy as np
import psutil
import pytest
from hdrh.histogram import HdrHistogram
from helpers.commands import NATIVE, NEEDS_NATIVE, SHORT, client, client_json, start_client

from aionetbench.endpoints import Endpoint
from aionetbench.errors import UsageError
from aionetbench.procstat import peak_rss, rss
from bench.measure.options import clients_from
from bench.report.slow import BOUND_PER_READER
from clients import native, stats
from clients.native.workers import counts_of
from clients.spec import LoadSpec
from clients.summary import Summary
from clients.workers import run as python_run

pytestmark = NEEDS_NATIVE


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
@pytest.mark.live
@pytest.mark.parametrize(
    ("protocol", "api", "loop"),
    [("tcp", "protocol", "uvloop"), ("tcp", "buffered", "asyncio"), ("ws", "websockets", "asyncio"),
     ("ws", "aiohttp", "uvloop"), ("line", "readline", "uvloop")],
)  # fmt: skip
def test_tls_echoes_verified_with_kernel_timestamps(
    start_server, protocol: str, api: str, loop: str
) -> None:
    """Every framing over TLS, a byte and 70,000 (several records per message); the replies
    still carry the kernel's arrival stamp, read through OpenSSL."""
    server = start_server(api, loop, "tls")
    for size in ("1", "70000"):
        summary = client_json(server.endpoint, *SHORT, "--tls", "--size", size, "--pipeline", "3",
                              protocol=protocol, program=NATIVE)  # fmt: skip
        assert summary["errors"] == 0 and summary["requests"] > 10, size
        assert summary["kernel_timed"] == 1.0, size


@pytest.mark.live
def test_tls_against_a_plain_server_is_one_line(start_server) -> None:
    server = start_server("protocol", "asyncio")
    result = client(server.endpoint, *SHORT, "--tls", program=NATIVE)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    said = result.stderr.strip()
    assert said.startswith(f"clients.native: cannot connect to {server.endpoint}: TLS handshake: ")
    assert len(said.splitlines()) == 1


@pytest.mark.live
def test_a_build_without_openssl_says_so_and_leaves_tls_to_python(
    tmp_path: Path, start_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built as `make native` builds it where libssl-dev is missing (no_tls.c)."""
    compiler = shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler")
    sources = [
        s for s in native.BINARY.parent.glob("*.c") if s.name not in ("tls.c", "crosscheck.c")
    ]
    binary = tmp_path / "load"
    subprocess.run([compiler, "-O2", "-o", str(binary), *map(str, sources), "-lm"], check=True)
    assert subprocess.run([binary, "--features"], capture_output=True, text=True).stdout == "\n"
    monkeypatch.setattr(native, "built_with_tls", lambda: False)
    clients = clients_from("native")
    assert clients.for_spec(LoadSpec("tcp", Endpoint(port=1), tls=True)).name == "python"
    server = start_server("protocol", "asyncio", "tls")
    connected = subprocess.run(
        [binary, "tcp", "--connect", str(server.endpoint), "--tls"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert connected.returncode == 2
    assert connected.stderr.strip().endswith("built without OpenSSL")


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


def test_tls_loads_go_to_the_native_client_built_with_openssl() -> None:
    clients = clients_from("native")
    plain = LoadSpec("tcp", Endpoint(port=1))
    assert native.built_with_tls()
    assert clients.for_spec(plain).name == "native"
    assert clients.for_spec(LoadSpec("tcp", Endpoint(port=1), tls=True)).name == "native"
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


@pytest.mark.live
@pytest.mark.parametrize(
    ("protocol", "api", "transport"),
    [("tcp", "native", "tcp"), ("tcp", "protocol", "tls"), ("ws", "websockets", "tcp"),
     ("ws", "aiohttp", "tls"), ("line", "readline", "unix")],
)  # fmt: skip
def test_churn_counts_are_exact(start_server, protocol: str, api: str, transport: str) -> None:
    """N whole connections of M verified echoes each, on every framing and transport."""
    server = start_server(api, "uvloop" if api != "native" else "epoll", transport)
    tls = ("--tls",) if transport == "tls" else ()
    summary = client_json(server.endpoint, "--churn", "3", "--requests", "600", "--concurrency",
                          "4", *tls, protocol=protocol, program=NATIVE)  # fmt: skip
    assert summary["errors"] == 0
    assert summary["requests"] == 600 and summary["connections_opened"] == 200
    assert summary["latency_samples"] == 200  # one per connection: its connect to first echo


@pytest.mark.live
def test_churn_open_loop_dials_at_the_rate_and_resumes_tls_when_asked(start_server) -> None:
    server = start_server("protocol", "uvloop", "tls")
    for resume in ((), ("--tls-resume",)):
        summary = client_json(server.endpoint, "--tls", *resume, "--churn", "1", "--rate", "400",
                              "--concurrency", "50", "--duration", "1", "--warmup", "0.2",
                              program=NATIVE)  # fmt: skip
        assert summary["errors"] == 0 and summary["mode"] == "open"
        assert 200 <= summary["connections_opened"] <= 600  # Poisson arrivals over 1 s
        assert summary["intended_latency_us"]["p50"] >= summary["latency_us"]["p50"] * 0.5
        opened, resumed = summary["connections_opened"], summary["tls_resumed"]
        # Resumed when a ticket had come before it was dialed (most: 84% at 400 conn/s here).
        assert (resumed > opened / 2) if resume else resumed == 0, (resume, resumed, opened)


@pytest.mark.live
def test_churn_against_a_server_that_dies_ends_with_an_error(server_pool) -> None:
    """A server gone mid-run: the slots cannot connect again; one error, the run ends."""
    server = server_pool.start_faulty()
    process = start_client(server.endpoint, "--churn", "1", "--duration", "3", "--warmup", "0",
                           program=NATIVE)  # fmt: skip
    time.sleep(0.8)
    server.kill()
    out, err = process.communicate(timeout=30)
    assert process.returncode == 1 and "Traceback" not in err
    summary = json.loads(out)
    assert summary["error_messages"][0].startswith(("cannot connect", "connection lost"))


def test_churn_is_refused_by_the_python_client_and_goes_to_the_native_one() -> None:
    churn = LoadSpec("tcp", Endpoint(port=1), churn=1)
    assert clients_from("native").for_spec(churn).name == "native"
    with pytest.raises(UsageError, match="--churn is the native load generator's"):
        python_run(churn)
    with pytest.raises(UsageError, match="multiple of --churn"):
        LoadSpec("tcp", Endpoint(port=1), churn=3, requests=10)
    with pytest.raises(UsageError, match="--tls-resume goes with --tls"):
        LoadSpec("tcp", Endpoint(port=1), tls_resume=True)


@pytest.mark.live
def test_idle_connections_are_held_open_beside_the_measured_ones(start_server) -> None:
    server = start_server("websockets", "uvloop", "tls")
    process = start_client(server.endpoint, "--tls", "--idle", "300", "--rate", "500",
                           "--duration", "1.5", "--warmup", "0.2", protocol="ws", program=NATIVE)  # fmt: skip
    held = 0
    while process.poll() is None:
        with contextlib.suppress(psutil.NoSuchProcess):
            held = max(held, len(psutil.Process(server.pid).net_connections()))
        time.sleep(0.05)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert json.loads(out)["errors"] == 0
    assert held >= 310  # the ten measured, and the 300 idle ones upgraded and echoed once


@pytest.mark.live
def test_more_connections_than_open_files_is_one_line(refused_endpoint: Endpoint) -> None:
    result = client(refused_endpoint, "--idle", "1000000", program=NATIVE)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "1000010 connections need more open files than the limit allows" in line


@pytest.mark.live
@pytest.mark.parametrize(("faulty", "tls", "bounded"),
                         [(False, (), True), (True, (), False), (True, ("--tls",), False)],
                         ids=["conforming", "no-backpressure", "no-backpressure-tls"])  # fmt: skip
def test_slow_readers_catch_a_server_that_buffers_without_limit(
    server_pool, start_server, faulty: bool, tls: tuple[str, ...], bounded: bool
) -> None:
    """Memory, not timing: what the server holds for two slow readers over 1.8 s."""
    server = (server_pool.start_faulty("--no-backpressure", *tls) if faulty
              else start_server("protocol", "asyncio"))  # fmt: skip
    before = rss(server.pid)
    summary = client_json(server.endpoint, "--slow-readers", "2", "--rate", "500", "--duration",
                          "1.5", "--warmup", "0.3", *tls, program=NATIVE)  # fmt: skip
    assert summary["errors"] == 0  # the slow readers' echoes verified too
    growth = peak_rss(server.pid) - before
    assert (growth <= 2 * BOUND_PER_READER) == bounded, growth
