"""Stalls on either side of a measurement: what a server's stall must do to a Summary, and a
load generator stopped mid-window."""

import json
import signal
import time

import psutil
import pytest

from aionetbench.endpoints import Endpoint
from helpers.commands import start_client


def assert_the_stall_is_seen(summary: dict, rate: float, arrivals: str) -> None:
    """A 200 ms server stall each second, at `rate`: in the p99, blamed on the server."""
    assert summary["arrivals"] == arrivals
    assert not summary["fell_behind"]
    # The server's stall, not the client's: a fifth of the messages waited 200 ms for the
    # server, and none of that is the client's lateness (the client may still have been
    # descheduled now and then by whatever else runs: that is its own, and flagged so).
    assert summary["late_share"] < 0.05, summary["late_share"]
    # Answered what the schedule drew (a stall at the window's end holds back up to 13% of
    # the replies past it), and the schedule drew about `rate` (Poisson: 750 arrivals at
    # 500/s in 1.5 s vary by 3.7%, so 20% is over five standard deviations).
    assert summary["achieved_rate"] == pytest.approx(summary["scheduled_rate"], rel=0.15)
    assert summary["scheduled_rate"] == pytest.approx(rate, rel=0.2)
    assert summary["scheduled_rate"] == pytest.approx(summary["sent_rate"], rel=0.01)
    assert summary["latency_us"]["p99"] >= 150_000, (rate, summary["latency_us"])
    low, high = summary["p99_ci_us"]
    assert low <= summary["latency_us"]["p99"] <= high


def stopped_client(
    endpoint: Endpoint, program: str, args: list[str], stop_after_s: float, stop_for_s: float
) -> dict:
    """The load generator's summary (`python -m PROGRAM tcp ... --json`) after the process
    that sends (the native one's worker) was stopped with SIGSTOP `stop_after_s` after its
    ten connections were open, for `stop_for_s`."""
    client = start_client(endpoint, *args, program=program)
    try:
        sender = psutil.Process(client.pid)
        deadline = time.monotonic() + 10
        while program == "clients.native" and not sender.children() and time.monotonic() < deadline:
            time.sleep(0.01)
        if program == "clients.native":
            (sender,) = sender.children()
        while len(sender.net_connections("tcp")) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)  # connected: the warm-up starts now
        time.sleep(stop_after_s)
        sender.send_signal(signal.SIGSTOP)
        time.sleep(stop_for_s)
        sender.send_signal(signal.SIGCONT)
        out, err = client.communicate(timeout=30)
    finally:
        client.kill()
    assert client.returncode == 0, err
    return json.loads(out)
