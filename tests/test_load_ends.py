"""Every load run ends by itself, whatever the server does: a server that never answers, one
stopped by SIGSTOP, a load worker that overruns its deadline or dies. Both load generators;
a run in which the server fell silent is a failed run, not a measurement."""

import json
import os
import signal
import time

import psutil
import pytest
from helpers.commands import (
    GENERATORS,
    NATIVE,
    NEEDS_NATIVE,
    bench,
    client,
    importable,
    load_command,
    run,
    start,
)
from helpers.pool import ServerPool

from clients.judgement import SILENCE_LIMIT_S

pytestmark = pytest.mark.live

WINDOW = ("--duration", "0.6", "--warmup", "0.1", "--drain", "0.3", "--json")
# A bound for a run of WINDOW, whatever the server does: start-up, 1 s of load and drain, and
# the deadlines' grace (load.c: 2 s), with room for a busy machine. Not a speed figure.
ENDS_WITHIN_S = 20.0


def timed_run(server_pool: ServerPool, program: str, *args: str) -> tuple[dict, float]:
    """A run against a server that reads and never answers: its summary and how long it took."""
    server = server_pool.start_faulty("--mute")
    started = time.monotonic()
    result = client(server.endpoint, *WINDOW, *args, program=program, timeout=ENDS_WITHIN_S)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout), time.monotonic() - started


@pytest.mark.parametrize("program", GENERATORS)
@pytest.mark.parametrize("mode", [(), ("--rate", "2000")], ids=["closed", "open"])
def test_a_server_that_never_answers_ends_the_run_and_is_named(
    server_pool: ServerPool, program: str, mode: tuple[str, ...]
) -> None:
    summary, _ = timed_run(server_pool, program, *mode)
    assert summary["requests"] == 0
    # Silent from the window's start through the drain (the watch looks every 20 ms).
    assert summary["silent_s"] >= 0.6, summary["silent_s"]
    assert summary["silent_s"] >= SILENCE_LIMIT_S


@pytest.mark.parametrize("program", GENERATORS)
def test_a_stopped_server_ends_the_run(server_pool: ServerPool, program: str) -> None:
    """Stopped after it accepted: the kernel still takes the bytes, nobody answers."""
    server = server_pool.start_faulty()
    server.process.send_signal(signal.SIGSTOP)
    try:
        result = client(server.endpoint, *WINDOW, "--rate", "20000", program=program,
                        timeout=ENDS_WITHIN_S)  # fmt: skip
    finally:
        server.process.send_signal(signal.SIGCONT)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["requests"] == 0 and summary["silent_s"] >= 0.6


@pytest.mark.parametrize("program", GENERATORS)
def test_a_schedule_it_cannot_keep_still_ends_on_time(start_server, program: str) -> None:
    """Sends that cost more than the gap between arrivals: 2,000,000 msg/s, the server and
    the load generator on one CPU. Each tick sends for at most 1 ms before the loop looks
    at the clock again; before that bound, every tick began with a larger backlog than the
    last, and such a run took 90-100 s instead of under one."""
    server = start_server("protocol", "uvloop")
    cpu = str(min(os.sched_getaffinity(0)))
    os.sched_setaffinity(server.pid, {int(cpu)})
    command = ["taskset", "-c", cpu, *load_command(server.endpoint, *WINDOW, "--rate",
               "2000000", "--server-pid", str(server.pid), program=program)]  # fmt: skip
    started = time.monotonic()
    result = run(command, timeout=ENDS_WITHIN_S)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < ENDS_WITHIN_S
    assert json.loads(result.stdout)["fell_behind"]


@NEEDS_NATIVE
def test_a_native_worker_past_its_deadline_gives_up_in_one_line(server_pool: ServerPool) -> None:
    """The worker stopped past warm-up + window + drain + load.c's grace: when it runs again
    its deadline has passed, and it gives up at once (exit 3) with the reason."""
    server = server_pool.start_faulty()
    load = start(load_command(server.endpoint, *WINDOW, program=NATIVE))
    try:
        worker = wait_for_worker(load.pid)
        worker.suspend()
        time.sleep(0.1 + 0.6 + 0.3 + 2.0 + 0.5)
        worker.resume()
        _, err = load.communicate(timeout=ENDS_WITHIN_S)
    finally:
        load.kill()
    assert load.returncode == 1 and "Traceback" not in err, err
    assert err.strip().splitlines() == [
        "clients.native: load generator worker 1 of 1 failed (exit code 3): the run did not end "
        "within 3.0 s (its warm-up, window and drain, and 2 s more): given up"
    ]


@NEEDS_NATIVE
def test_a_native_worker_that_dies_is_one_line(server_pool: ServerPool) -> None:
    server = server_pool.start_faulty()
    load = start(load_command(server.endpoint, "--duration", "20", program=NATIVE))
    try:
        wait_for_worker(load.pid).terminate()
        _, err = load.communicate(timeout=ENDS_WITHIN_S)
    finally:
        load.kill()
    assert load.returncode == 1, err
    assert err.strip().splitlines() == [
        "clients.native: load generator worker 1 of 1 failed (exit code 143)"
    ]


def wait_for_worker(pid: int) -> psutil.Process:
    """The native wrapper's `load` worker, once it has connected."""
    wrapper = psutil.Process(pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        workers = [p for p in wrapper.children() if p.name() == "load"]
        if workers and workers[0].net_connections("tcp"):
            return workers[0]
        time.sleep(0.02)
    raise AssertionError("no native worker connected")


@pytest.mark.parametrize("generator", ["python", pytest.param("native", marks=NEEDS_NATIVE)])
def test_a_server_that_stops_mid_run_fails_that_run(tmp_path, generator: str) -> None:
    """The first server stops itself (SIGSTOP) 1 s after it starts, inside its first 1.5 s
    window: that run fails with the reason, the next (a fresh server) is measured."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import os, signal, sys, threading\n"
        "if '--host' in sys.argv:\n"
        f"    with open({str(tmp_path / 'launches')!r}, 'a+') as launches:\n"
        "        launches.write('.')\n"
        "        launches.seek(0)\n"
        "        if len(launches.read()) == 1:\n"
        "            threading.Timer(1.0, os.kill, [os.getpid(), signal.SIGSTOP]).start()\n"
    )
    output = tmp_path / "stopped.json"
    result = bench("run", "--apis", "protocol", "--loops", "asyncio", "--client", generator,
                   "--repeats", "2", "--duration", "1.5", "--warmup", "0.2", "--rates", "none",
                   "--quiet", "-o", str(output), env=importable(shim))  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    data = json.loads(output.read_text())
    (failed,) = data["aionetbench"]["failed"]
    assert failed["reason"].startswith("the server answered nothing for "), failed
    runs = data["benchmarks"][0]["runs"]
    assert sum(1 for run in runs if "values" in run) == 1
