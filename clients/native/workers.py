"""The native workers: one `load` process per worker, released together, their windows read
back into the WorkerResult that `clients.result` merges (as it merges the Python workers')."""

import json
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from aionetbench.errors import UsageError
from clients import stats
from clients.native import BINARY, built_with_tls
from clients.spec import LoadSpec
from clients.window import ServerUsage, WorkerFailed, WorkerResult, worker_loads

# Beyond warm-up, window and drain (or the counted limit), for a worker to print its window:
# load.c gives up by itself GRACE_S (2 s) past the same mark, so this is only a backstop.
RESULT_GRACE_S = 5.0


def worker_command(
    spec: LoadSpec, connections: int, first: int, rate: float | None, binary: str = str(BINARY)
) -> list[str]:
    """The `load` command line of one worker (`binary`: where `load` is, on another host
    relative to its suite): the spec's worker options (clients.spec) for its share."""
    share = replace(
        spec,
        concurrency=connections,
        workers=1,
        rate=rate,
        server_pid=spec.server_pid if first == 0 else None,
        idle=spec.idle if first == 0 else None,  # all held by the first worker
        slow_readers=spec.slow_readers if first == 0 else None,
    )
    return [binary, *share.to_argv(worker=True), "--first", str(first)]


def counts_of(pairs: list[int]) -> stats.Counts:
    """(bucket middle, count) pairs, flattened, as load.c prints them."""
    values = np.array(pairs[0::2], dtype=np.int64)
    return stats.Counts(values, np.array(pairs[1::2], dtype=np.int64))


def recorded(raw: dict) -> stats.Recorded:
    """One of load.c's histograms with its exact sums."""
    return stats.recorded_from(counts_of(raw["pairs"]), raw["total_ns"], raw["total_sq_ns"])


def window_of(raw: dict, open_loop: bool) -> WorkerResult:
    """One worker's printed window as the common WorkerResult."""
    blocks = [counts_of(pairs) for pairs in raw["blocks"]]
    latency = raw["latency"]
    return WorkerResult(
        connections=raw["connections"],
        requests=raw["requests"],
        opened=raw["opened"],
        resumed=raw["resumed"],
        window_s=raw["window_ns"] / 1e9,
        cpu_s=raw["cpu_ns"] / 1e9,
        latency=stats.recorded_from(
            stats.Counts.merge(blocks), latency["total_ns"], latency["total_sq_ns"]
        ),
        blocks=blocks if open_loop else [],
        intended=recorded(raw["intended"]) if open_loop else None,
        undelivered=raw["undelivered"],
        lag=recorded(raw["lateness"]) if open_loop else None,
        timed=raw["timed"],
        realtime_s=raw["realtime_ns"] / 1e9,
        scheduled=raw["scheduled"],
        sent=raw["sent"],
        server=ServerUsage(**raw["server"]) if raw["server"] else None,
        errors=raw["errors"],
        own_wait_s=raw["own_wait_ns"] / 1e9,
        own_involuntary=raw["own_involuntary"],
        steal_s=raw["steal_ns"] / 1e9,
        started_ns=raw["started_ns"],
        ended_ns=raw["ended_ns"],
        silent_s=raw["silent_ns"] / 1e9,
    )


def failure(process: Any, number: int, total: int, stderr: str | None = None) -> Exception:
    """Why a worker stopped without its result: its own one line when it refused (exit 2),
    else that it failed, with its last line (`stderr`: what it printed, when already read)."""
    if stderr is None:
        process.kill()
        _, stderr = process.communicate()
    lines = (stderr or "").strip().splitlines()
    if process.returncode == 2 and lines:
        return UsageError(lines[-1])
    said = f": {lines[-1]}" if lines else ""
    return WorkerFailed(
        f"load generator worker {number} of {total} failed (exit code {process.returncode}){said}"
    )


def run(spec: LoadSpec) -> list[WorkerResult]:
    """Run the load on `spec.workers` native processes and return their windows."""
    if not BINARY.exists():
        raise UsageError("the native load generator is not built: run `make native`")
    if spec.tls and not built_with_tls():
        raise UsageError(
            "the native load generator was built without OpenSSL (install libssl-dev and run "
            "`make native`): use python -m clients for TLS"
        )
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    processes = [
        subprocess.Popen(worker_command(spec, *load), text=True, **pipes)
        for load in worker_loads(spec)
    ]
    try:
        release(processes, spec.connect_s)
        return windows(spec, processes)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()


def release(processes: Sequence[Any], connect_s: float) -> None:
    """Wait until every worker has connected (within `connect_s`), then let them all go
    together (`processes`: `subprocess.Popen`s, or anything driven like one, such as workers
    on other hosts)."""
    deadline = time.monotonic() + connect_s
    for number, process in enumerate(processes, 1):
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            process.kill()
            raise WorkerFailed(f"load generator worker {number} did not connect in time")
        if process.stdout.readline().strip() != "connected":
            raise failure(process, number, len(processes))
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()


def windows(spec: LoadSpec, processes: Sequence[Any]) -> list[WorkerResult]:
    """The released workers' windows, each read to the end of its output."""
    deadline = time.monotonic() + spec.run_s + RESULT_GRACE_S
    results, said = [], set()
    for number, process in enumerate(processes, 1):
        try:
            out, err = process.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise WorkerFailed("the load generator's workers did not finish in time") from None
        if process.returncode != 0 or not out.strip():
            raise failure(process, number, len(processes), err)
        for line in set((err or "").splitlines()) - said:  # what a worker says (once for all)
            print(line, file=sys.stderr)
            said.add(line)
        results.append(window_of(json.loads(out), spec.rate is not None))
    return results
