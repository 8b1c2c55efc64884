"""Open loop: arrival processes, the tail's confidence interval, stalls seen at any rate and
at the window's end."""

import random
import sys
from array import array

import numpy as np
import pytest
from helpers.commands import GENERATORS, client_json
from helpers.pool import ServerPool
from helpers.stalls import assert_the_stall_is_seen, stopped_client

from clients.arrivals import Arrivals
from clients.stats import Counts, percentile_interval
from clients.workload import EchoMismatch, EchoVerifier, line_workload


@pytest.mark.parametrize("rate", [1_000.0, 150_000.0])
def test_poisson_gaps_have_the_right_mean_and_spread(rate: float) -> None:
    arrivals = Arrivals(rate, "poisson", seed=7)
    times = np.array(arrivals.next_block(50_000) + arrivals.next_block(50_000))
    gaps = np.diff(times)
    assert np.all(gaps >= 0)
    mean = 1e9 / rate
    # 100k exponential gaps: the mean is within 1% and the coefficient of variation is 1
    # (an exponential's), against 0 for constant spacing.
    assert gaps.mean() == pytest.approx(mean, rel=0.01)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.02)
    # Memoryless: as many gaps exceed twice the mean as e^-2 predicts.
    assert np.mean(gaps > 2 * mean) == pytest.approx(np.exp(-2), abs=0.01)


def test_uniform_gaps_are_constant_and_do_not_drift() -> None:
    arrivals = Arrivals(3_000.0, "uniform")
    times = [t for _ in range(100) for t in arrivals.next_block()]
    gaps = np.diff(times)
    assert gaps.min() >= 333_332 and gaps.max() <= 333_334
    assert abs(times[-1] - (len(times) - 1) * 1e9 / 3_000) <= 1  # no accumulated rounding


def test_bad_arrivals_are_refused() -> None:
    with pytest.raises(ValueError):
        Arrivals(0, "poisson")
    with pytest.raises(ValueError):
        Arrivals(10, "bursty")


def block(values: list[float]) -> Counts:
    return Counts.of([array("q", (int(v) for v in values))])


def test_p99_interval_narrow_for_steady_latencies_and_wide_for_one_stall() -> None:
    rng = random.Random(3)
    steady = [block([rng.lognormvariate(11, 0.3) for _ in range(5_000)]) for _ in range(20)]
    everything = [
        v for b in steady for v, c in zip(b.values, b.counts, strict=True) for _ in range(c)
    ]
    true_p99 = float(np.percentile(everything, 99))
    low, high = percentile_interval(steady)
    assert low <= true_p99 <= high
    assert (high - low) / 2 < 0.05 * true_p99
    # The same, but one block of twenty holds a 200 ms stall for 30% of its messages: 1.5%
    # of the whole, so the p99 depends on whether a resample draws that block.
    stalled = list(steady)
    stalled[7] = block([*(rng.lognormvariate(11, 0.3) for _ in range(3_500)), *[2e8] * 1_500])
    low, high = percentile_interval(stalled)
    assert high / low > 100  # resamples with and without the stall disagree: not reliable


def test_p99_interval_needs_two_blocks() -> None:
    low, high = percentile_interval([block([1000.0] * 100)])
    assert np.isnan(low) and np.isnan(high)


@pytest.mark.serial  # it blames the stall on the server: a client that keeps its schedule
@pytest.mark.parametrize("program", GENERATORS)
@pytest.mark.parametrize("arrivals", ["poisson", "uniform"])
def test_stall_server_open_loop_at_several_rates(
    server_pool: ServerPool, arrivals: str, program: str
) -> None:
    """A server blocking 200 ms each second: at every rate, p99 (from intended send times)
    shows the stall, whichever way arrivals are spaced."""
    server = server_pool.start_faulty("--stall-ms", "200")
    for rate in (500, 4000):
        summary = client_json(
            server.endpoint, "--duration", "1.5", "--warmup", "0.3", "--rate", str(rate),
            "--arrivals", arrivals, program=program,
        )  # fmt: skip
        assert_the_stall_is_seen(summary, rate, arrivals)


@pytest.mark.serial  # open-loop schedules and stalls: timing
@pytest.mark.parametrize("program", GENERATORS)
def test_a_stalled_client_is_flagged_not_blamed_on_the_server(
    server_pool: ServerPool, program: str
) -> None:
    """The client itself is stopped for 150 ms mid-window (the native one's worker process,
    which does the sending): afterwards it sends what fell due in one burst and keeps to its
    schedule, so it did not fall behind; the stall is in the intended latency, not in the
    server's, and flagged as the client's (client-bound), with the late share it measured."""
    server = server_pool.start(
        [sys.executable, "-m", "servers", "protocol", "--port", "0", "--loop", "uvloop"]
    )
    # start-up, 0.3 s of warm-up, part of the window
    summary = stopped_client(server.endpoint, program, ["--duration", "2", "--warmup", "0.3",
                             "--rate", "5000"], stop_after_s=0.9, stop_for_s=0.15)  # fmt: skip
    assert summary["errors"] == 0
    assert not summary["fell_behind"]  # it caught up: the offered load was kept
    # 150 ms at 5,000 msg/s is 750 of ~10,000 messages sent up to 150 ms late.
    assert summary["late_share"] >= 0.03, summary["late_share"]
    assert summary["client_stalled"] and summary["client_bound"]
    assert summary["intended_latency_us"]["p99"] >= 50_000  # from intended times: it shows
    assert summary["latency_us"]["p99"] < 50_000  # from the sends: it is not the server's


@pytest.mark.serial  # open-loop schedules and stalls: timing
def test_stall_at_the_end_of_the_window_is_counted(server_pool: ServerPool) -> None:
    """The server stalls 400 ms starting 100 ms before the window closes. Messages sent in
    those last 100 ms (5% of the window) are answered only after it: they must be waited
    for and counted, not dropped with the window."""
    warmup, duration = 0.5, 2.0
    server = server_pool.start_faulty(
        "--stall-ms", "400", "--stall-at", str(warmup + duration - 0.1)
    )
    summary = client_json(
        server.endpoint, "--duration", str(duration), "--warmup", str(warmup), "--rate", "2000"
    )
    latency = summary["latency_us"]
    assert summary["latency_samples"] == pytest.approx(2000 * duration, rel=0.1)
    assert summary["undelivered"] == 0  # the 1 s drain outlasts the stall
    assert latency["p99"] >= 250_000, latency
    assert latency["max"] >= 300_000, latency
    # Fewer replies arrived inside the window than messages were sent in it: the difference
    # is what the drain caught.
    assert summary["requests"] < summary["latency_samples"]


@pytest.mark.serial  # open-loop schedules and stalls: timing
def test_undelivered_messages_count_with_their_latency_so_far(server_pool: ServerPool) -> None:
    """With a drain shorter than the stall, the unanswered messages still count, at the
    time the client stopped waiting."""
    server = server_pool.start_faulty("--stall-ms", "600", "--stall-at", "1.4")
    summary = client_json(
        server.endpoint, "--duration", "1", "--warmup", "0.5", "--rate", "2000", "--drain", "0.2"
    )
    # Messages sent in the last 100 ms (10% of the window) wait 200-300 ms when the client
    # gives up 200 ms after the window.
    assert summary["undelivered"] == pytest.approx(200, rel=0.3)
    assert summary["latency_us"]["p99"] >= 190_000
    # Counted when the client stopped waiting, not when the 600 ms stall ended: how long
    # before that the stall began depends on how long connecting took (200-370 ms seen).
    assert summary["latency_us"]["max"] < 500_000


def test_line_framing_in_the_verifier() -> None:
    """Line-framed messages (the readline server's) have one newline, at the end; the
    verifier counts replies across chunk boundaries and catches a changed byte."""
    workload = line_workload(100)
    assert all(
        m.endswith(b"\n") and m.count(b"\n") == 1 and len(m) == 100 for m in workload.messages
    )
    stream = b"".join(workload.messages[:3])
    verifier = EchoVerifier(workload)
    assert verifier.feed(stream[:150]) == 1 and verifier.feed(stream[150:]) == 2
    corrupted = bytearray(workload.messages[3])
    corrupted[-1] = ord(" ")  # the newline lost: the server would still be waiting
    with pytest.raises(EchoMismatch):
        EchoVerifier(workload, 3).feed(bytes(corrupted))
