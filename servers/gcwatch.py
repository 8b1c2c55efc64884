"""Garbage-collection pauses, kept by every Python server and reported on request.

`gc.callbacks` calls the watch at the start and the stop of each collection. It counts the
collections of each generation and keeps every pause of at least KEPT_NS with its start on
CLOCK_MONOTONIC, the clock the load generators time their windows with, so that whoever asks
can place the pauses inside a measured window (bench.measure.run). A line `gc` on stdin
asks for what happened since the last request; the answer is one line, `GC <json>`, on
stdout. A thread waits for the request blocked in read(), holding no GIL, so the watch costs
the server nothing between collections and works the same on every event loop.
"""

import gc
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

from aionetbench.serverproc import GC_PREFIX, GC_REQUEST

KEPT_NS = 100_000  # shorter pauses are counted, not kept one by one
KEPT_MAX = 10_000  # pauses kept between two requests at most


@dataclass
class Collections:
    """What the collector did between two requests."""

    counts: list[int] = field(default_factory=lambda: [0, 0, 0])  # per generation
    pause_ns: list[int] = field(default_factory=lambda: [0, 0, 0])
    kept: list[tuple[int, int, int]] = field(default_factory=list)  # (generation, start, length)


class GcWatch:
    """The gc.callbacks hook and its tally; `report()` hands the tally over and starts anew."""

    def __init__(self) -> None:
        self.tally = Collections()
        self.started_ns = 0

    def __call__(self, phase: str, info: dict) -> None:
        now = time.monotonic_ns()
        if phase == "start":
            self.started_ns = now
            return
        tally, generation, length = self.tally, info["generation"], now - self.started_ns
        tally.counts[generation] += 1
        tally.pause_ns[generation] += length
        if length >= KEPT_NS and len(tally.kept) < KEPT_MAX:
            tally.kept.append((generation, self.started_ns, length))

    def report(self) -> dict:
        tally, self.tally = self.tally, Collections()
        return asdict(tally)


def answer_requests(watch: GcWatch) -> None:
    """Answer each `gc` line on stdin until it closes (the orchestrator went away)."""
    for line in sys.stdin:
        if line == GC_REQUEST:
            print(GC_PREFIX + json.dumps(watch.report()), flush=True)


def start() -> GcWatch:
    """Watch this process's collections from now on, and answer requests on stdin."""
    watch = GcWatch()
    gc.callbacks.append(watch)
    threading.Thread(target=answer_requests, args=(watch,), daemon=True, name="gc-watch").start()
    return watch
