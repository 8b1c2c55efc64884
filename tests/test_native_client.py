"""The native load generator (clients/native) against real servers, beside the Python one:
the same verification, flags and faults; its histograms and schedules checked exactly."""

import json
import subprocess
from array import array

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from helpers.commands import NATIVE, NEEDS_NATIVE, SHORT, client, client_json

from aionetbench.endpoints import Endpoint
from aionetbench.errors import UsageError
from bench.measure.options import clients_from
from clients import native, stats
from clients.native.workers import counts_of
from clients.spec import LoadSpec
from clients.summary import Summary

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
def test_tls_is_refused_in_one_line(start_server) -> None:
    server = start_server("protocol", "asyncio", "tls")
    result = client(server.endpoint, *SHORT, "--tls", program=NATIVE)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "clients.native: the native load generator does not do TLS: use python -m clients"
    )


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
