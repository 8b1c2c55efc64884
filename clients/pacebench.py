"""Measures the native load generator's pacing against its targets: what it costs when the
load is light, how it keeps its schedule, and whether it measures the server rather than
itself when another process wants its CPU.

`python -m clients.pacebench [--rounds N] [--duration S]`: server (uvloop `protocol`) pinned
to the first CPU, load generator to the rest, TCP, 1 KiB, 10 connections, Poisson arrivals,
medians (min-max) over rounds, variants interleaved within each round:
10. its CPU at 1,000 and 13,000 msg/s, and its schedule lag p99 (each message's lateness) at
    13,000 and 100,000 msg/s
11. a nice-0 process taking the load generator's CPU for 3 ms every 50 ms: the p99 at
    13,000 and 50,000 msg/s against the same point measured quietly, at real-time priority
    (`auto`, the default) and at normal priority, and whether any point was client-limited
12. against an independent open-loop C client (clients/native/crosscheck.c: a sleeping
    sender thread, a polling receiver thread) on the same server: p99 ratio at 20,000,
    50,000 and 100,000 msg/s
"""

import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from aionetbench.cpus import spawn_pinned, split_cpus
from clients.judgement import point_flags
from clients.native import BINARY, native_generator
from clients.selfbench import our_client, rounds_parser, spread, uvloop_server
from clients.summary import Summary

CROSSCHECK = BINARY.with_name("crosscheck")
# The interfering process: busy for BURST_S every PERIOD_S, at normal priority (nice 0).
BURST_S, PERIOD_S = 0.003, 0.050
HOG = f"""
import time
end = time.monotonic() + {{seconds}}
while time.monotonic() < end:
    busy = time.monotonic() + {BURST_S}
    while time.monotonic() < busy:
        pass
    time.sleep({PERIOD_S - BURST_S})
"""


def cost_and_lag(server, cpus: set[int], duration: float, rows: dict) -> None:
    """Target 10's figures, one round."""
    native = native_generator()
    for rate in (1_000.0, 13_000.0, 100_000.0):
        summary = our_client("tcp", server, cpus, duration, native, rate=rate)
        assert summary.schedule is not None
        rows[f"cpu {rate:,.0f}"].append(summary.client_cpu)
        rows[f"lag p99 us {rate:,.0f}"].append(summary.schedule.lag_p99_us)


def interfered(server, cpus: set[int], duration: float, rows: dict, limited: list[str]) -> None:
    """Target 11's figures, one round: each rate and priority quietly, then beside the hog."""
    native = native_generator()
    for rate in (13_000.0, 50_000.0):
        for priority in ("auto", "normal"):
            p99 = {}
            for hogged in (False, True):
                hog = None
                if hogged:
                    program = HOG.format(seconds=duration + 2.5)
                    hog = spawn_pinned([sys.executable, "-c", program], cpus)
                try:
                    summary = our_client("tcp", server, cpus, duration, native, rate=rate,
                                         priority=priority)  # fmt: skip
                finally:
                    if hog is not None:
                        hog.kill()
                        hog.wait()
                p99[hogged] = summary.latency.p99
                name = f"{rate:,.0f} msg/s, {priority}, {'hogged' if hogged else 'quiet'}"
                rows[f"p99 us {name}"].append(summary.latency.p99)
                rows[f"intended p99 us {name}"].append(intended_p99(summary))
                if point_flags(summary).client_limited:
                    limited.append(name)
            rows[f"hogged/quiet p99 {rate:,.0f} msg/s, {priority}"].append(p99[True] / p99[False])


def intended_p99(summary: Summary) -> float:
    return summary.intended_latency.p99 if summary.intended_latency else float("nan")


def crosschecked(server, cpus: set[int], duration: float, rows: dict) -> None:
    """Target 12's figures, one round: the suite's p99 over the independent client's."""
    native = native_generator()
    host, port = server.endpoint.host, str(server.endpoint.port)
    for rate in (20_000.0, 50_000.0, 100_000.0):
        ours = our_client("tcp", server, cpus, duration, native, rate=rate, warmup=0.5)
        command = [str(CROSSCHECK), host, port, str(rate), str(duration)]
        process = spawn_pinned(command, cpus, stdout=subprocess.PIPE, text=True)
        out, _ = process.communicate(timeout=duration + 30)
        theirs = json.loads(out)
        rows[f"ours/crosscheck p99 {rate:,.0f}"].append(ours.latency.p99 / theirs["p99_us"])
        rows[f"crosscheck p99 us {rate:,.0f}"].append(theirs["p99_us"])
        rows[f"ours p99 us {rate:,.0f}"].append(ours.latency.p99)


def main() -> None:
    args = rounds_parser("python -m clients.pacebench", __doc__ or "", 2.0).parse_args()
    if native_generator() is None or not CROSSCHECK.exists():
        raise SystemExit("clients.pacebench: the native load generator is not built (make native)")
    server_cpus, client_cpus = split_cpus()
    print(f"server on CPUs {sorted(server_cpus)}, load generator on CPUs {sorted(client_cpus)}")
    rows: dict[str, list[float]] = defaultdict(list)
    limited: list[str] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        uvloop_server("protocol", server_cpus, Path(tmp)) as server,
    ):
        for round_number in range(1, args.rounds + 1):
            cost_and_lag(server, client_cpus, args.duration, rows)
            interfered(server, client_cpus, args.duration, rows, limited)
            crosschecked(server, client_cpus, args.duration, rows)
            print(f"round {round_number} of {args.rounds} done", flush=True)
    print("\nmedian (min-max) over rounds")
    for name, values in rows.items():
        print(f"  {name:<48} {spread(values)}")
    print(
        "targets: 10 cpu 1,000 <= 0.1, cpu 13,000 <= 0.6, lag p99 13,000 <= 60 us, 100,000 <= 30 us"
    )
    print("         11 hogged/quiet p99 <= 1.5 (auto), no point client-limited")
    print("         12 ours/crosscheck p99 within 1/1.2-1.2")
    print(f"  client-limited points: {', '.join(limited) if limited else 'none'}")


if __name__ == "__main__":
    main()
