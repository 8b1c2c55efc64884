"""Measures the load generator itself against its targets, side by side and interleaved.

`python -m clients.selfbench [--rounds N] [--duration S]`, server pinned to the first CPU and
clients to the rest. Each round runs, in this order: our TCP client and the classic
blocking-socket pool against the uvloop `protocol` server, then our WebSocket client against
the uvloop `websockets` server. Reports medians (min-max) over rounds of:
1. client CPU per request / server CPU per request (TCP, 1 KiB, 10 connections, depth 1)
2. our requests/s / the classic client's requests/s, against the same server
3. the same CPU ratio as 1 for the WebSocket client
4. latency recording cost per message (array append on the hot path + bulk histogram)
5. open loop, per client loop: the highest offered rate (Poisson arrivals, TCP, 1 KiB, 10
   connections) at which the client keeps to its schedule, against the uvloop `buffered`
   server, the cheapest per message under open load
And the native load generator's targets (`clients/native`; TCP, 1 KiB, 10 connections,
depth 1), interleaved with the Python client where they compare the two:
6. closed loop against `servers/native`: native req/s / Python (uvloop) req/s, per round
7. open loop against `servers/native` at 1.3x uvloop `protocol`'s closed-loop req/s (measured
   with the native client): sent / due and the p99 schedule lag
8. its own share of a tail: p50 and p99 of each client against `servers/native` at 10% of
   that server's closed-loop capacity
9. the server's CPU per request as each client measures it (native / Python, interleaved),
   open loop against the uvloop `protocol` (25,000 msg/s) and `websockets` (8,000) servers:
   the two must agree (within 15%), since the orchestrator ranks on this figure
"""

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from time import perf_counter_ns

import psutil

from aionetbench.cpus import spawn_pinned, split_cpus
from aionetbench.serverproc import ServerProcess, server_command
from clients.contract import Generator, python_generator
from clients.judgement import point_flags
from clients.native import native_generator
from clients.spec import LoadSpec
from clients.stats import record
from clients.summary import Summary


def run_json(command: list[str], cpus: set[int]) -> dict:
    process = spawn_pinned(command, cpus, stdout=subprocess.PIPE, text=True)
    out, _ = process.communicate(timeout=120)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}")
    return json.loads(out)


def run_load(spec: LoadSpec, cpus: set[int], generator: Generator | None = None) -> Summary:
    """A load generator (the Python one by default), through the orchestrator's contract."""
    return Summary.from_json(run_json((generator or python_generator()).command(spec), cpus))


def uvloop_server(api: str, cpus: set[int], directory: Path) -> ServerProcess:
    return ServerProcess(
        server_command(api, loop="uvloop"), cpus=cpus, stderr_path=directory / f"{api}.err"
    )


def our_client(
    protocol: str,
    server: ServerProcess,
    cpus: set[int],
    duration: float,
    generator: Generator | None = None,
    **load: object,
) -> Summary:
    spec = LoadSpec(protocol, server.endpoint, duration=duration, server_pid=server.pid, **load)  # type: ignore[arg-type]
    return run_load(spec, cpus, generator)


def native_targets(
    native: Generator, server_cpus: set[int], client_cpus: set[int], directory: Path, args
) -> None:
    """Targets 6-8: the native load generator beside the Python one."""
    ratios, capacities = [], []
    with ServerProcess(
        server_command("native"), cpus=server_cpus, stderr_path=directory / "native.err"
    ) as floor:
        for _ in range(args.rounds):
            fast = our_client("tcp", floor, client_cpus, args.duration, native)
            slow = our_client("tcp", floor, client_cpus, args.duration)
            ratios.append(fast.rps / slow.rps)
            capacities.append(fast.rps)
            print(f"  native {fast.rps:,.0f} req/s, python {slow.rps:,.0f} req/s", flush=True)
        with uvloop_server("protocol", server_cpus, directory) as protocol:
            uvloop_rps = our_client("tcp", protocol, client_cpus, args.duration, native).rps
        rate = 1.3 * uvloop_rps
        kept = our_client("tcp", floor, client_cpus, args.duration, native, rate=rate, warmup=0.5)
        tenth = 0.1 * statistics.median(capacities)
        tails = {
            name: our_client("tcp", floor, client_cpus, args.duration, generator, rate=tenth)
            for name, generator in (("native", native), ("python", None))
        }
    assert kept.schedule is not None
    print(f"6 native/python req/s vs servers/native  {spread(ratios)}   target >= 1.3")
    print(
        f"7 open loop at {rate:,.0f} msg/s (1.3x uvloop protocol's {uvloop_rps:,.0f}): sent "
        f"{kept.schedule.sent_rate / kept.schedule.scheduled_rate:.2%} of due, p99 schedule lag "
        f"{kept.schedule.lag_p99_us:.1f} us   target >= 99%, <= 20 us"
    )
    print(
        f"8 at {tenth:,.0f} msg/s (10% of servers/native): "
        + ", ".join(
            f"{n} p50 {t.latency.p50:.1f} us p99 {t.latency.p99:.1f} us" for n, t in tails.items()
        )
    )
    for api, protocol, rate in (("protocol", "tcp", 25_000.0), ("websockets", "ws", 8_000.0)):
        costs: list[float] = []
        with uvloop_server(api, server_cpus, directory) as server:
            for _ in range(args.rounds):
                native_cost, python_cost = (
                    our_client(
                        protocol, server, client_cpus, args.duration, generator, rate=rate
                    ).server
                    for generator in (native, None)
                )
                assert native_cost is not None and python_cost is not None  # --server-pid given
                costs.append(native_cost.cpu_us / python_cost.cpu_us)
        print(f"9 server CPU/request, native/python, {api:<10} {spread(costs)}   target 0.85-1.15")


# The Python load generator's loops whose open-loop capacity is measured.
OPEN_LOOP_CLIENT_LOOPS = ("asyncio", "uvloop", "rloop")
# Offered loads tried for target 5, msg/s: 1.2x apart around where one core runs out.
OPEN_LOOP_RATES = (40_000, 50_000, 60_000, 72_000, 86_000, 100_000, 120_000, 145_000, 175_000,
                   210_000, 250_000)  # fmt: skip


def open_loop_capacity(
    client_loop: str, server_cpus: set[int], client_cpus: set[int], directory: Path, duration: float
) -> tuple[float, str]:
    """The highest rate in OPEN_LOOP_RATES at which the open-loop client kept to its
    schedule, and what ended the climb (the client, the server, or the list)."""
    kept = 0.0
    with uvloop_server("buffered", server_cpus, directory) as server:
        for rate in OPEN_LOOP_RATES:
            result = our_client("tcp", server, client_cpus, duration, rate=float(rate),
                                loop=client_loop, warmup=0.5)  # fmt: skip
            if point_flags(result).fell_behind:
                return kept, f"fell behind at {rate:,}"
            if point_flags(result).saturated:
                return kept, f"the server saturated at {rate:,}"
            kept = rate
    return kept, "kept up at every rate tried"


def classic_client(server: ServerProcess, cpus: set[int], duration: float) -> dict:
    command = [sys.executable, "-m", "clients.classic", "--connect", str(server.endpoint)]
    command += ["--duration", str(duration)]
    process = psutil.Process(server.pid)
    before = sum(process.cpu_times()[:2])
    result = run_json(command, cpus)
    result["server_cpu"] = (sum(process.cpu_times()[:2]) - before) / (duration + 1.5)
    return result


def recording_cost_ns(samples: int = 1_000_000) -> tuple[float, float]:
    """Per message: the hot-path append (timed against the same loop without it) plus the
    bulk histogram, for a loopback-like spread (20 us-2 ms) and for the worst case (every
    latency distinct, spread over seconds). Returns (typical, worst) in nanoseconds."""
    sent = perf_counter_ns()
    latencies = array("q")
    append = latencies.append
    started = perf_counter_ns()
    for _ in range(samples):
        append(perf_counter_ns() - sent)
    appended = perf_counter_ns()
    for _ in range(samples):
        perf_counter_ns() - sent  # the same loop without the append
    append_ns = ((appended - started) - (perf_counter_ns() - appended)) / samples
    rng = random.Random(1)
    typical = array("q", (int(20_000 * rng.paretovariate(2.0)) for _ in range(samples)))
    typical = array("q", (min(v, 2_000_000) for v in typical))
    costs = []
    for spread_out in (typical, latencies):
        histogram_started = perf_counter_ns()
        record([spread_out])
        costs.append(append_ns + (perf_counter_ns() - histogram_started) / samples)
    return costs[0], costs[1]


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def rounds_parser(prog: str, description: str, duration: float) -> argparse.ArgumentParser:
    """The options every self-benchmark of the load generator takes: rounds and duration."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default %(default)s)")
    parser.add_argument(
        "--duration", type=float, default=duration, help="seconds a run (default %(default)s)"
    )
    return parser


def main() -> None:
    parser = rounds_parser("python -m clients.selfbench", __doc__ or "", 3.0)
    parser.add_argument(
        "--native-only", action="store_true", help="only targets 6-8 (the native client's)"
    )
    args = parser.parse_args()
    server_cpus, client_cpus = split_cpus()
    print(f"server on CPUs {sorted(server_cpus)}, clients on CPUs {sorted(client_cpus)}")
    if args.native_only:
        if (native := native_generator()) is None:
            raise SystemExit("clients.selfbench: the native load generator is not built")
        with tempfile.TemporaryDirectory() as tmp:
            native_targets(native, server_cpus, client_cpus, Path(tmp), args)
        return
    rows: dict[str, list[float]] = {k: [] for k in ("tcp", "classic", "cpu", "ratio", "ws")}
    with tempfile.TemporaryDirectory() as tmp:
        for round_number in range(1, args.rounds + 1):
            with uvloop_server("protocol", server_cpus, Path(tmp)) as server:
                ours = our_client("tcp", server, client_cpus, args.duration)
                classic = classic_client(server, client_cpus, args.duration)
            with uvloop_server("websockets", server_cpus, Path(tmp)) as server:
                ws = our_client("ws", server, client_cpus, args.duration)
            assert ours.server is not None and ws.server is not None  # --server-pid was given
            rows["tcp"].append(ours.rps / 1000)
            rows["classic"].append(classic["rps"] / 1000)
            rows["cpu"].append(ours.client_cpu_us_per_request / ours.server.cpu_us)
            rows["ratio"].append(ours.rps / classic["rps"])
            rows["ws"].append(ws.client_cpu_us_per_request / ws.server.cpu_us)
            print(
                f"round {round_number}: tcp {ours.rps:,.0f} req/s (client {ours.client_cpu:.2f}, "
                f"server {ours.server.cpu:.2f} cores; {ours.client_cpu_us_per_request:.2f} vs "
                f"{ours.server.cpu_us:.2f} us/req) | classic {classic['rps']:,.0f} req/s "
                f"(server {classic['server_cpu']:.2f} cores) | ws {ws.rps:,.0f} req/s "
                f"({ws.client_cpu_us_per_request:.2f} vs {ws.server.cpu_us:.2f} us/req)",
                flush=True,
            )
            time.sleep(0.5)
        open_loop = {
            loop: open_loop_capacity(loop, server_cpus, client_cpus, Path(tmp), args.duration)
            for loop in OPEN_LOOP_CLIENT_LOOPS
        }
    typical_ns, worst_ns = recording_cost_ns()
    print("\nmedian (min-max) over rounds")
    print(f"  our TCP client            {spread(rows['tcp'])} k req/s")
    print(f"  classic client            {spread(rows['classic'])} k req/s")
    print(f"1 client/server CPU, TCP    {spread(rows['cpu'])}   target <= 0.6")
    print(f"2 ours/classic req/s        {spread(rows['ratio'])}   target >= 2")
    print(f"3 client/server CPU, ws     {spread(rows['ws'])}   target <= 0.5")
    print(
        f"4 recording cost            {typical_ns / 1000:.3f} us/message "
        f"(worst case {worst_ns / 1000:.3f})   target <= 0.3"
    )
    for loop, (kept, why) in open_loop.items():
        print(
            f"5 open loop, {loop + ' client':<15} kept its schedule up to {kept:,.0f} msg/s ({why})"
        )
    if (native := native_generator()) is None:
        print("6-8: the native load generator is not built (make native)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        native_targets(native, server_cpus, client_cpus, Path(tmp), args)


if __name__ == "__main__":
    main()
