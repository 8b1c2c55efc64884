"""Small results files written through the real ResultsFile, from chosen numbers, no servers."""

import random
from array import array
from pathlib import Path

from bench.plan.cells import Cell
from bench.plan.profiles import Plan
from bench.store.schema import Measurement
from bench.store.writer import ResultsFile
from clients.native import native_generator
from clients.stats import record, summary_us
from clients.summary import Latency, ServerCost, Summary

# The load generator a real run here uses by default, so a synthetic baseline compares with it.
DEFAULT_CLIENT = "native" if native_generator() else "python"


def measurement(
    rps: float,
    latency_us: float,
    rng: random.Random,
    client_bound: bool = False,
    generator: str = DEFAULT_CLIENT,
) -> Measurement:
    """A run at `rps` whose latencies spread around `latency_us`, measured by `generator`."""
    samples = array("q", (int(latency_us * 1000 * rng.lognormvariate(0, 0.3)) for _ in range(2000)))
    latency = Latency(**summary_us([record([samples])]))  # type: ignore[arg-type]
    server = ServerCost(0.9, 0.9e6 / rps, 0.45e6 / rps, 0.45e6 / rps, 0.0, 0.0)
    client = Summary(
        protocol="tcp", endpoint="127.0.0.1:1", tls=False, loop="uvloop", size=1024,
        concurrency=10, pipeline=1, workers=1, mode="closed", requests=int(rps * 4),
        duration_s=4.0, rps=rps, mib_s=rps / 1024, errors=0, error_messages=[],
        client_cpu=0.5, client_cpu_us_per_request=0.5e6 / rps, client_bound=client_bound,
        latency=latency, latency_samples=len(samples), undelivered=0, server=server,
        generator=generator,
    )  # fmt: skip
    return Measurement(client=client, server_peak_rss=30 << 20)


def write_results(
    path: Path,
    table: dict[Cell, list[float]],
    seed: int = 1,
    scale: float = 1.0,
    generator: str = DEFAULT_CLIENT,
) -> Path:
    """Record each cell's repeats at the given req/s (times `scale`), latency ~ 1/req/s."""
    rng = random.Random(seed)
    plan = Plan(repeats=max(map(len, table.values())))
    results = ResultsFile(path, plan, "server:0 client:1", "test")
    for cell, rates in table.items():
        for repeat, rps in enumerate(rates, 1):
            rps *= scale
            results.add(cell, repeat, measurement(rps, 5e6 / rps, rng, rps > 150_000, generator))
    return path


def cell(api: str, loop: str, size: int = 1024, concurrency: int = 10) -> Cell:
    return Cell(api, loop, "tcp", size, concurrency, 1)


# Chosen so the folklore order holds on uvloop and not on asyncio.
QUICK = {
    cell("sockets", "asyncio"): [40_000, 41_000, 39_000],
    cell("streams", "asyncio"): [36_000, 37_000, 35_000],
    cell("protocol", "asyncio"): [44_000, 45_000, 43_000],
    cell("sockets", "uvloop"): [68_000, 69_000, 67_000],
    cell("streams", "uvloop"): [118_000, 120_000, 116_000],
    cell("protocol", "uvloop"): [160_000, 165_000, 155_000],
}
