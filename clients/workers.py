"""Several worker processes for one load: started together, watched, their windows collected."""

import asyncio
import multiprocessing
import queue
import threading
import time

from aionetbench.errors import UsageError
from aionetbench.loops import resolve
from clients.runner import CONNECT_TIMEOUT, run_worker
from clients.spec import LoadSpec
from clients.window import WorkerFailed, WorkerResult, worker_loads

WORKER_POLL_S = 0.1  # how often the parent checks that its workers are alive


def run_in_process(spec: LoadSpec, connections: int, first: int, rate, barrier=None):
    with asyncio.Runner(loop_factory=resolve(spec.loop)) as runner:
        return runner.run(run_worker(spec, connections, first, rate, barrier))


def _worker_main(spec, connections, first, rate, barrier, results) -> None:
    try:
        results.put((first, run_in_process(spec, connections, first, rate, barrier)))
    except UsageError as error:
        barrier.abort()
        results.put((first, error))
    except threading.BrokenBarrierError:
        results.put((first, None))  # another worker failed and says why
    except KeyboardInterrupt:
        barrier.abort()


def collect(processes: list, firsts: list[int], results, deadline: float) -> dict:
    """Each worker's outcome by its first connection, as they arrive. A worker that dies
    without one stops the run at once, instead of when the deadline passes."""
    collected: dict = {}
    while len(collected) < len(processes):
        try:
            first, outcome = results.get(timeout=WORKER_POLL_S)
            collected[first] = outcome
            continue
        except queue.Empty:
            pass
        for number, (process, first) in enumerate(zip(processes, firsts, strict=True), 1):
            if first not in collected and process.exitcode not in (None, 0):
                raise WorkerFailed(
                    f"load generator worker {number} of {len(processes)} crashed "
                    f"(exit code {process.exitcode})"
                )
        if time.monotonic() > deadline:
            raise WorkerFailed("the load generator's workers did not finish in time")
    return collected


def run(spec: LoadSpec) -> list[WorkerResult]:
    """Run the load on `spec.workers` processes (in this one when 1) and return their results."""
    resolve(spec.loop)  # an unusable loop is a usage error before anything starts
    if flag := spec.native_only:
        raise UsageError(f"{flag} is the native load generator's (python -m clients.native)")
    if spec.priority == "realtime":  # `auto`: normal priority, as the results then say
        raise UsageError(
            "--priority realtime is the native load generator's (python -m clients.native): "
            "this one spins between sends, and at real-time priority would starve its CPU"
        )
    loads = worker_loads(spec)
    firsts = [first for _, first, _ in loads]
    if spec.workers == 1:
        return [run_in_process(spec, *loads[0])]
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(spec.workers), context.Queue()
    processes = [
        context.Process(target=_worker_main, args=(spec, share, first, rate, barrier, results))
        for share, first, rate in loads
    ]
    for process in processes:
        process.start()
    try:
        deadline = time.monotonic() + CONNECT_TIMEOUT + spec.warmup + spec.duration + 60
        collected = collect(processes, firsts, results, deadline)
    except WorkerFailed:
        # Not barrier.abort(): a worker killed inside barrier.wait() can die holding the
        # barrier's lock, and abort() would wait for it forever. The others are killed.
        for process in processes:
            process.kill()
        raise
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
    for outcome in collected.values():
        if isinstance(outcome, UsageError):
            raise outcome
    return [collected[first] for first in firsts]
