"""Open-loop sweeps of synthetic servers with this machine's kind of noise, written through
the real ResultsFile and climbed by the real knee search (bench.measure.sweep.Knee): fresh
server processes that differ by 20% (and a bimodal one that sometimes runs at 40%), p99
spikes of 1.2-2 ms that make a point miss by noise, and interfered points that say nothing."""

import math
import random
from array import array
from pathlib import Path

from bench.measure.sweep import Knee, beyond
from bench.plan.cells import Cell
from bench.plan.profiles import Plan
from bench.store.schema import Measurement
from bench.store.writer import ResultsFile
from clients.stats import record, summary_us
from clients.summary import Latency, Schedule, ServerCost, Summary, Waits
from helpers.synthetic import measurement

LADDER = [5_000.0, 10_000.0, 20_000.0, 40_000.0, 80_000.0]
SLO_US = 1000.0


def open_measurement(rate: float, p99_us: float, interfered: bool) -> Measurement:
    """An open-loop point whose p99 is `p99_us` (p50 a tenth), known to +-3%; `interfered`:
    the server waited 10% of the window for its CPU, with a long tail."""
    samples = array("q", [int(p99_us * 100)] * 980 + [int(p99_us * 1000)] * 20)
    latency = Latency(**summary_us([record([samples])]))  # type: ignore[arg-type]
    p99 = latency.p99
    schedule = Schedule(
        target_rate=rate, arrivals="poisson", p99_ci_us=(0.97 * p99, 1.03 * p99),
        achieved_rate=rate, sent_rate=rate, scheduled_rate=rate, lag_p50_us=1.0,
        lag_p99_us=5.0, lag_max_us=20.0, fell_behind=False, late_share=0.0, client_stalled=False,
    )  # fmt: skip
    client = Summary(
        protocol="tcp", endpoint="127.0.0.1:1", tls=False, loop="epoll", size=1024,
        concurrency=10, pipeline=1, workers=1, mode="open", requests=int(rate), duration_s=1.0,
        rps=rate, mib_s=rate / 1024, errors=0, error_messages=[], client_cpu=0.3,
        client_cpu_us_per_request=10.0, client_bound=False, latency=latency,
        latency_samples=len(samples), undelivered=0, generator="native", schedule=schedule,
        server=ServerCost(0.5, 0.5e6 / rate, 0.25e6 / rate, 0.25e6 / rate, 0.0, 0.0),
        waits=Waits(100.0 if interfered else 0.0, 0.0, 0, 0.0),
    )  # fmt: skip
    return Measurement(client=client, server_peak_rss=30 << 20)


def p99_of(rate: float, capacity: float, rng: random.Random) -> tuple[float, bool]:
    """The p99 (us) a process of `capacity` shows at `rate`, and whether it was interfered:
    1 ms is crossed at the capacity, latency growing as the cube of the load near it."""
    if rng.random() < 0.1:
        return 5_000.0, True
    p99 = SLO_US * (rate / capacity) ** 3
    if rng.random() < 0.15:  # the machine's ~1.2 ms tail, at any load
        p99 = max(p99, rng.uniform(1_200, 2_000))
    return p99, False


def climb(
    results: ResultsFile, cell: Cell, process: int, capacity: float, rng: random.Random
) -> None:
    """One process's climb of the ladder (and past it), then its knee search, as
    bench.measure.sweep does it."""
    knee = Knee()

    def point(rate: float) -> bool | None:
        p99, interfered = p99_of(rate, capacity, rng)
        results.add_point(cell, rate, open_measurement(rate, p99, interfered), process)
        verdict = None if interfered else p99 <= SLO_US
        knee.record(rate, verdict)
        return verdict

    for rate in LADDER + beyond(LADDER, 3):
        if point(rate) is False:
            break
    while (rate := knee.next_rate()) is not None:
        point(rate)


def write_sweep(path: Path, seed: int, capacities: dict[Cell, float], bimodal: Cell) -> Path:
    """Three fresh processes climb each cell, in a shuffled order per process; each process
    runs within 20% of the cell's capacity, and `bimodal`'s at 40% of it one time in three."""
    rng = random.Random(seed)
    plan = Plan(repeats=1, rates=tuple(LADDER), sweep_processes=3)
    results = ResultsFile(path, plan, "server:0 client:1", "test")
    results.ladder = list(LADDER)
    for swept, capacity in capacities.items():  # the closed loop the sweep follows
        results.add(swept, 1, measurement(capacity, 10 / capacity * 1e6, rng))
    for process, cell in plan_order(list(capacities), rng):
        capacity = capacities[cell] * math.exp(rng.gauss(0, 0.1))
        if cell == bimodal and rng.random() < 1 / 3:
            capacity *= 0.4
        climb(results, cell, process, capacity, rng)
    return path


def plan_order(cells: list[Cell], rng: random.Random) -> list[tuple[int, Cell]]:
    order = []
    for process in (1, 2, 3):
        shuffled = list(cells)
        rng.shuffle(shuffled)
        order += [(process, cell) for cell in shuffled]
    return order
