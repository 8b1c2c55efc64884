"""What the servers' garbage-collection watch (servers.gcwatch) costs them.

`python -m bench.measure.gccost [--rounds N] [--duration S]`: for `streams` and `websockets`
on asyncio (the APIs that allocate most per message), a fresh pinned and warmed server with
the watch and one without it (AIONETBENCH_NO_GC_WATCH), interleaved A B A B, each driven
closed loop (10 connections, depth 1) by the load generator pinned apart. Prints server CPU
per request with and without, and the median (min-max) of the pairwise ratio.
"""

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from aionetbench.cpus import split_cpus
from aionetbench.errors import Fault, run_command
from aionetbench.serverproc import ServerProcess, server_command
from bench.measure.drive import LoadFailed, drive
from bench.measure.run import warm
from clients.contract import Clients, python_generator
from clients.judgement import why_failed
from clients.native import native_generator
from clients.spec import LoadSpec
from servers import SERVERS
from servers.cli import NO_GC_WATCH_ENV

APIS = ("streams", "websockets")


def server_cpu_us(api: str, watched: bool, duration: float, directory: Path) -> float:
    """Server CPU per request over one closed-loop window, with or without the watch."""
    server_cpus, client_cpus = split_cpus()
    env = None if watched else {**os.environ, NO_GC_WATCH_ENV: "1"}
    command = server_command(api, loop="asyncio")
    with ServerProcess(
        command, cpus=server_cpus, stderr_path=directory / "server.err", env=env
    ) as server:
        warm(server.endpoint)
        spec = LoadSpec(SERVERS[api].framing, server.endpoint, duration=duration, warmup=0.5,
                        server_pid=server.pid)  # fmt: skip
        generator = native_generator() or python_generator()
        try:
            summary = drive(spec, Clients(generator, python_generator()), client_cpus)
        except LoadFailed as error:
            raise Fault(f"{api}: {error}") from None
    if reason := why_failed(summary):
        raise Fault(f"{api}: {reason}")
    assert summary.server is not None  # --server-pid was given
    return summary.server.cpu_us


def main() -> None:
    run_command("bench.measure.gccost", measure_both)


def measure_both() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.measure.gccost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for api in APIS:
            pairs = [
                (server_cpu_us(api, True, args.duration, Path(tmp)),
                 server_cpu_us(api, False, args.duration, Path(tmp)))
                for _ in range(args.rounds)
            ]  # fmt: skip
            with_watch, without = zip(*pairs, strict=True)
            ratios = [a / b for a, b in pairs]
            print(
                f"{api}/asyncio: server CPU per request {statistics.median(with_watch):.2f} us "
                f"with the watch, {statistics.median(without):.2f} us without; with/without "
                f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) over "
                f"{args.rounds} interleaved pairs"
            )


if __name__ == "__main__":
    main()
